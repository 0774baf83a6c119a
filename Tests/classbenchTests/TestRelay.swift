import Foundation
import Glibc
import WebSocketCodec
@testable import classbench

/// A small single-threaded WebSocket relay on 127.0.0.1 for end-to-end tests of the
/// load generator: like the benchmark's peers it sends every text message to every
/// client, the sender included. It can drop or duplicate one broadcast for one
/// client (by accept order) so loss and duplicate counting can be checked exactly,
/// negotiate permessage-deflate (server_no_context_takeover, like the project's server),
/// and write every frame in two pieces so the client must reassemble headers and payloads.
final class TestRelay: @unchecked Sendable {  // all mutable state is touched only by the relay thread (after start())
    struct Fault {
        var sequence: UInt64
        /// 0 = first accepted client.
        var client: Int
    }

    let port: UInt16
    private let listener: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let drop: Fault?
    private let duplicate: Fault?
    private let corruptAccept: Bool
    private let splitWrites: Bool
    private let deflate: Bool
    private var compressor = SharedDeflateCompressor()
    private let finished = DispatchSemaphore(value: 0)

    private final class Client {
        let fd: Int32
        let ordinal: Int
        var open = false
        var deflate = false
        var buffer: [UInt8] = []
        init(fd: Int32, ordinal: Int) {
            self.fd = fd
            self.ordinal = ordinal
        }
    }
    private var clients: [Client] = []
    private var accepted = 0

    init(drop: Fault? = nil, duplicate: Fault? = nil, corruptAccept: Bool = false,
         splitWrites: Bool = false, deflate: Bool = false) throws {
        self.drop = drop
        self.duplicate = duplicate
        self.corruptAccept = corruptAccept
        self.splitWrites = splitWrites
        self.deflate = deflate
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { ptr in
                bind(fd, ptr, length) == 0 && listen(fd, 512) == 0 && getsockname(fd, ptr, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw SystemError("bind/listen")
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw SystemError("pipe") }
        wakeRead = pipeEnds[0]
        wakeWrite = pipeEnds[1]
    }

    var url: String { "ws://127.0.0.1:\(port)/ws" }

    func start() {
        Thread { [self] in
            serve()
            finished.signal()
        }.start()
    }

    /// Stops the relay thread and closes every socket.
    func stop() {
        _ = write(wakeWrite, "x", 1)
        finished.wait()
        for c in clients { close(c.fd) }
        close(listener)
        close(wakeRead)
        close(wakeWrite)
    }

    private func serve() {
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            fds += clients.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 100) >= 0 else { continue }
            if fds[0].revents != 0 { return }
            if fds[1].revents != 0 { acceptAll() }
            let ready = zip(clients, fds.dropFirst(2)).filter { $0.1.revents != 0 }.map(\.0)
            for client in ready {
                let n = recv(client.fd, &scratch, scratch.count, 0)
                if n <= 0 {
                    if n < 0 && errno == EAGAIN { continue }
                    remove(client)
                    continue
                }
                client.buffer += scratch[0..<n]
                client.open ? frames(client) : handshake(client)
            }
        }
    }

    private func acceptAll() {
        while true {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            clients.append(Client(fd: fd, ordinal: accepted))
            accepted += 1
        }
    }

    private func remove(_ client: Client) {
        close(client.fd)
        clients.removeAll { $0 === client }
    }

    private func handshake(_ client: Client) {
        let text = String(decoding: client.buffer, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return }
        client.buffer = []
        let keyLine = text[..<end.lowerBound].split(separator: "\r\n").first { $0.lowercased().hasPrefix("sec-websocket-key:") }
        let key = keyLine.map { $0.dropFirst("sec-websocket-key:".count).trimmingASCII(" ") }.map(String.init) ?? ""
        let accept = corruptAccept ? "AAAAAAAAAAAAAAAAAAAAAAAAAAA=" : webSocketAcceptValue(forKey: key)
        client.deflate = deflate && text.lowercased().contains("permessage-deflate")
        let ext = client.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n" : ""
        send(client, Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\(ext)\r\n".utf8))
        client.open = true
    }

    /// Client frames are masked; text messages are relayed, Close is answered.
    private func frames(_ client: Client) {
        while client.buffer.count >= 6 {
            let opcode = client.buffer[0] & 0x0F
            var length = Int(client.buffer[1] & 0x7F)
            var offset = 2
            if length == 126 {
                guard client.buffer.count >= 8 else { return }
                length = Int(client.buffer[2]) << 8 | Int(client.buffer[3])
                offset = 4
            } else if length == 127 {
                return  // never sent by these tests
            }
            guard client.buffer.count >= offset + 4 + length else { return }
            let mask = Array(client.buffer[offset..<(offset + 4)])
            let payload = (0..<length).map { client.buffer[offset + 4 + $0] ^ mask[$0 & 3] }
            client.buffer.removeFirst(offset + 4 + length)
            switch opcode {
            case 0x1: relay(payload)
            case 0x8:
                send(client, [0x88, 0x02, 0x03, 0xE8])
                remove(client)
                return
            default: break
            }
        }
    }

    private func relay(_ text: [UInt8]) {
        let plain = WebSocketFrameEncoder.encode(opcode: .text, payload: text)
        let compressed = WebSocketFrameEncoder.encode(opcode: .text, payload: compressor.compress(text, windowBits: 15), rsv1: true)
        let sequence = text.withUnsafeBytes { findSequenceMarker($0) }
        for c in clients where c.open {
            if let drop, drop.sequence == sequence, drop.client == c.ordinal { continue }
            let frame = c.deflate ? compressed : plain
            send(c, frame)
            if let duplicate, duplicate.sequence == sequence, duplicate.client == c.ordinal { send(c, frame) }
        }
    }

    private func send(_ client: Client, _ bytes: [UInt8]) {
        guard splitWrites, bytes.count > 3 else { return sendAll(client, bytes) }
        // Header cut after its first byte, payload cut in the middle: two reads on the client.
        let cut = bytes.count / 2
        sendAll(client, Array(bytes[..<1]))
        usleep(200)
        sendAll(client, Array(bytes[1..<cut]))
        usleep(200)
        sendAll(client, Array(bytes[cut...]))
    }

    private func sendAll(_ client: Client, _ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(client.fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
            } else if n < 0 && errno == EAGAIN {
                var p = pollfd(fd: client.fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, 100)
            } else {
                return
            }
        }
    }
}
