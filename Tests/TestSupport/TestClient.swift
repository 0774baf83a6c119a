// A small blocking client over real loopback sockets, written independently of the
// server's codecs so tests don't check the server against itself.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

public struct TestClientError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

public final class TestClient {
    public let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects to 127.0.0.1:port with a receive timeout.
    public init(port: Int, host: String = "127.0.0.1", timeout: Double = 5) throws {
        let isV6 = host.contains(":")
        fd = socket(isV6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClientError(description: "socket failed") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int(timeout.truncatingRemainder(dividingBy: 1) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var rc: Int32
        if isV6 {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET6, host, &addr.sin6_addr)
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &addr.sin_addr)
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard rc == 0 else { close(fd); throw TestClientError(description: "connect failed: \(errno)") }
    }

    deinit { close(fd) }

    public func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestClientError(description: "send failed: \(errno)") }
            off += n
        }
    }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Reads more bytes into the buffer; false on EOF, throws on timeout.
    @discardableResult
    public func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { return false }
        if n < 0 { throw TestClientError(description: errno == EAGAIN ? "timeout" : "recv failed: \(errno)") }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// Reads until EOF; returns everything received.
    public func readToEOF() throws -> [UInt8] {
        while try fill() {}
        defer { buffer = [] }
        return buffer
    }

    public struct Response {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Reads one HTTP response (Content-Length bodies; `head` for HEAD requests).
    public func readResponse(head: Bool = false) throws -> Response {
        let sep: [UInt8] = [13, 10, 13, 10]
        var end: Int?
        while true {
            if buffer.count >= 4 {
                for i in 0...(buffer.count - 4) where Array(buffer[i..<i + 4]) == sep { end = i; break }
            }
            if end != nil { break }
            guard try fill() else { throw TestClientError(description: "EOF before response head") }
        }
        let headText = String(decoding: buffer[0..<end!], as: UTF8.self)
        buffer.removeFirst(end! + 4)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        let status = Int(statusLine[1]) ?? 0
        let headers = lines.map { line -> (String, String) in
            let i = line.firstIndex(of: ":")!
            return (String(line[..<i]), line[line.index(after: i)...].trimmingCharacters(in: .whitespaces))
        }
        var r = Response(status: status, headers: headers, body: [])
        if head || status == 304 || status == 101 { return r }
        let length = Int(r.header("Content-Length") ?? "0") ?? 0
        while buffer.count < length { guard try fill() else { break } }
        r.body = Array(buffer.prefix(length))
        buffer.removeFirst(min(length, buffer.count))
        return r
    }

    // MARK: WebSocket client side

    public static let key = "dGhlIHNhbXBsZSBub25jZQ=="

    public func upgrade(path: String = "/ws", extraHeaders: String = "") throws -> Response {
        try send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(TestClient.key)\r\nSec-WebSocket-Version: 13\r\n\(extraHeaders)\r\n")
        return try readResponse()
    }

    /// A masked client frame.
    public static func frame(opcode: UInt8, payload: [UInt8], fin: Bool = true) -> [UInt8] {
        var f: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        if payload.count < 126 { f.append(0x80 | UInt8(payload.count)) }
        else if payload.count < 65536 { f.append(0x80 | 126); f.append(UInt8(payload.count >> 8)); f.append(UInt8(payload.count & 0xff)) }
        else { f.append(0x80 | 127); for s in stride(from: 56, through: 0, by: -8) { f.append(UInt8((payload.count >> s) & 0xff)) } }
        f.append(contentsOf: mask)
        for (i, b) in payload.enumerated() { f.append(b ^ mask[i % 4]) }
        return f
    }

    public func sendText(_ text: String) throws { try send(TestClient.frame(opcode: 1, payload: Array(text.utf8))) }

    /// Reads one server frame (unmasked): (opcode, payload).
    public func readFrame() throws -> (opcode: UInt8, payload: [UInt8]) {
        while buffer.count < 2 { guard try fill() else { throw TestClientError(description: "EOF before frame") } }
        var len = Int(buffer[1] & 0x7f)
        var off = 2
        if len == 126 {
            while buffer.count < 4 { guard try fill() else { throw TestClientError(description: "EOF") } }
            len = Int(buffer[2]) << 8 | Int(buffer[3]); off = 4
        } else if len == 127 {
            while buffer.count < 10 { guard try fill() else { throw TestClientError(description: "EOF") } }
            len = 0; for i in 2..<10 { len = len << 8 | Int(buffer[i]) }; off = 10
        }
        while buffer.count < off + len { guard try fill() else { throw TestClientError(description: "EOF in frame") } }
        let opcode = buffer[0] & 0x0f
        let payload = Array(buffer[off..<off + len])
        buffer.removeFirst(off + len)
        return (opcode, payload)
    }

    public func readText() throws -> String {
        while true {
            let f = try readFrame()
            if f.opcode == 1 { return String(decoding: f.payload, as: UTF8.self) }
            if f.opcode == 8 { throw TestClientError(description: "closed: \(f.payload)") }
        }
    }

    /// Makes close() send RST instead of FIN (an abrupt reset).
    public func setLingerZero() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
    }
}

/// Open descriptors of this process.
public func openDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

/// Resident set size of this process in KiB.
public func residentKiB() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
}

extension TestClient {
    /// Reads text messages until one is a JSON object whose "type" is `type`.
    public func readMessage(type: String, skipping limit: Int = 200) throws -> [String: Any] {
        for _ in 0..<limit {
            let text = try readText()
            guard let obj = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { continue }
            if obj["type"] as? String == type { return obj }
        }
        throw TestClientError(description: "no \(type) message")
    }

    public func sendJSON(_ object: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: object)
        try sendText(String(decoding: data, as: UTF8.self))
    }
}
