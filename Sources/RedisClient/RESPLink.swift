// One TCP connection to Redis on an event loop: resolve, non-blocking connect (EINPROGRESS,
// wait for writability, check SO_ERROR), AUTH and SELECT, then bytes out and parsed replies in.
// A link is used once: after it closes, the owner makes a new one (RedisConnection and
// RedisSubscriber decide when, and what a reply means).
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import NetServer
import RESPCodec

/// Told about a link, on its loop.
protocol RESPLinkDelegate: AnyObject {
    /// Connected; AUTH and SELECT (if any) accepted. The link now takes commands.
    func linkReady(_ link: RESPLink)
    /// Replies (beyond the login's), in order: those read in one readiness event together.
    func link(_ link: RESPLink, received values: [RESPValue])
    /// The link closed by itself and will never report again. Not called after `close()`.
    func link(_ link: RESPLink, closedWith error: RedisError)
}

/// Owned by `loop.queue`: every method and property is used only there (@unchecked Sendable
/// only so that closures sent to that queue may hold it).
final class RESPLink: DescriptorHandler, @unchecked Sendable {
    enum State { case idle, resolving, connecting, handshaking, ready, closed }

    let loop: EventLoop
    weak var delegate: RESPLinkDelegate?
    private(set) var state = State.idle

    private let url: RedisURL
    private let connectTimeoutMs: Int
    private let select: Bool
    private var fd: Int32 = -1
    private var addresses: [SocketAddress] = []
    private var addressIndex = 0
    /// Why the last address failed (the next may still work).
    private var lastFailure = ""
    private var parser: RESPParser
    private var outbound: [UInt8] = []
    private var outboundSent = 0
    private var watchingWritable = false
    /// Replies still expected for the login ("AUTH", "SELECT"), in order.
    private var handshake: [String] = []
    private var connectDeadline: DispatchWorkItem?
    private let readBuffer: UnsafeMutableRawBufferPointer

    /// `select`: send SELECT for the URL's database (the subscriber does not: channels ignore it).
    init(loop: EventLoop, url: RedisURL, connectTimeoutMs: Int, limits: RESPLimits, select: Bool) {
        self.loop = loop
        self.url = url
        self.connectTimeoutMs = connectTimeoutMs
        self.select = select
        parser = RESPParser(limits: limits)
        readBuffer = .allocate(byteCount: 16 * 1024, alignment: 16)
    }

    deinit { readBuffer.deallocate() }

    var isReady: Bool { state == .ready }

    /// Starts connecting. Names are resolved off the loop (getaddrinfo may wait on DNS).
    func start() {
        guard state == .idle else { return }
        state = .resolving
        let deadline = DispatchWorkItem { [weak self] in
            guard let self, self.state != .ready, self.state != .closed else { return }
            let during = self.state == .handshaking ? "no reply to \(self.handshake.first ?? "the login")" : "connect \(self.url.host):\(self.url.port)"
            self.fail(.notConnected("\(during) within \(self.connectTimeoutMs) ms"))
        }
        connectDeadline = deadline
        loop.queue.asyncAfter(deadline: .now() + .milliseconds(connectTimeoutMs), execute: deadline)

        let host = url.host, port = url.port
        if RESPLink.isNumeric(host) {
            resolved(Result { () throws(SocketError) in try ClientSocket.resolve(host: host, port: port) })
        } else {
            DispatchQueue.global().async { [self] in
                let r = Result { () throws(SocketError) in try ClientSocket.resolve(host: host, port: port) }
                loop.execute { self.resolved(r) }
            }
        }
    }

    private static func isNumeric(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    private func resolved(_ result: Result<[SocketAddress], SocketError>) {
        guard state == .resolving else { return }
        switch result {
        case .success(let list):
            addresses = list
            addressIndex = 0
            connectNext()
        case .failure(let e):
            fail(.notConnected(e.description))
        }
    }

    /// Tries the addresses in order until one connects (or is in progress).
    private func connectNext() {
        while addressIndex < addresses.count {
            let address = addresses[addressIndex]
            do {
                let (socket, inProgress) = try ClientSocket.connect(to: address)
                fd = socket
                let code = loop.watch(fd, self)
                guard code == 0 else {
                    Glibc.close(fd)
                    fd = -1
                    fail(.notConnected("cannot watch the socket: \(String(cString: strerror(code)))"))
                    return
                }
                if inProgress {
                    state = .connecting
                    setWritable(true)
                } else {
                    connected()
                }
                return
            } catch {
                lastFailure = error.description
                addressIndex += 1
            }
        }
        fail(.notConnected(lastFailure.isEmpty ? "no address for \(url.host)" : lastFailure))
    }

    private func connected() {
        state = .handshaking
        var login: [UInt8] = []
        handshake = []
        if let password = url.password {
            RESPRequest.append(url.username.map { ["AUTH", $0, password] } ?? ["AUTH", password], to: &login)
            handshake.append("AUTH")
        }
        if select && url.database != 0 {
            RESPRequest.append(["SELECT", String(url.database)], to: &login)
            handshake.append("SELECT")
        }
        setWritable(false)
        if handshake.isEmpty {
            becomeReady()
        } else {
            write(login)
        }
    }

    private func becomeReady() {
        connectDeadline?.cancel()
        connectDeadline = nil
        state = .ready
        delegate?.linkReady(self)
    }

    // MARK: Readiness

    func descriptorReady(readable: Bool, writable: Bool) {
        switch state {
        case .connecting:
            let code = ClientSocket.pendingError(fd)
            if code != 0 {
                // Refused, unreachable: drop this socket and try the next address.
                lastFailure = "connect \(addresses[addressIndex]): \(String(cString: strerror(code)))"
                loop.unwatch(fd)
                Glibc.close(fd)
                fd = -1
                watchingWritable = false
                addressIndex += 1
                connectNext()
            } else if writable {
                connected()
            }
        case .handshaking, .ready:
            if writable { flush() }
            if readable && state != .closed { read() }
        case .idle, .resolving, .closed:
            break
        }
    }

    // MARK: Writing

    /// Queues bytes and writes what the socket takes now; the rest goes when it is writable.
    func write(_ bytes: [UInt8]) {
        guard state == .ready || state == .handshaking else { return }
        if outbound.isEmpty { outbound = bytes } else { outbound.append(contentsOf: bytes) }
        flush()
    }

    private func flush() {
        while outboundSent < outbound.count {
            let n = outbound.withUnsafeBytes { p in
                Glibc.send(fd, p.baseAddress! + outboundSent, p.count - outboundSent, Int32(MSG_NOSIGNAL))
            }
            if n > 0 { outboundSent += n; continue }
            let code = errno
            if n < 0 && (code == EAGAIN || code == EWOULDBLOCK) { setWritable(true); return }
            if n < 0 && code == EINTR { continue }
            fail(.connectionLost("write: \(String(cString: strerror(code)))"))
            return
        }
        outbound.removeAll(keepingCapacity: outbound.capacity <= 64 << 10)
        outboundSent = 0
        setWritable(false)
    }

    private func setWritable(_ on: Bool) {
        guard on != watchingWritable, fd >= 0 else { return }
        watchingWritable = on
        loop.watchWritable(fd, on)
    }

    // MARK: Reading

    private func read() {
        var values: [RESPValue] = []
        var failure: RedisError?
        reading: while true {
            let n = recv(fd, readBuffer.baseAddress, readBuffer.count, 0)
            if n > 0 {
                parser.append(UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))
                do {
                    while let v = try parser.next() { values.append(v) }
                } catch {
                    failure = .protocolError(error.description)
                    break reading
                }
                if n < readBuffer.count { break }
                continue
            }
            if n == 0 { failure = .connectionLost("Redis closed the connection"); break }
            switch errno {
            case EAGAIN, EWOULDBLOCK: break reading
            case EINTR: continue
            case let code: failure = .connectionLost("read: \(String(cString: strerror(code)))"); break reading
            }
        }
        // Replies that arrived before an EOF or a protocol error are still delivered.
        if !values.isEmpty { deliver(values) }
        if let failure, state != .closed { fail(failure) }
    }

    private func deliver(_ values: [RESPValue]) {
        var rest = values[...]
        while state == .handshaking, let v = rest.first {
            rest = rest.dropFirst()
            let step = handshake.removeFirst()
            if case .error(let message) = v {
                fail(.handshakeFailed("\(step): \(message)"))
                return
            }
            if handshake.isEmpty { becomeReady() }
        }
        if state == .ready && !rest.isEmpty { delegate?.link(self, received: Array(rest)) }
    }

    // MARK: Closing

    /// Closes the socket; the delegate is told unless the owner asked (`notify: false`).
    func close(_ error: RedisError = .closed, notify: Bool = false) {
        guard state != .closed else { return }
        state = .closed
        connectDeadline?.cancel()
        connectDeadline = nil
        if fd >= 0 {
            loop.unwatch(fd)
            Glibc.close(fd)
            fd = -1
        }
        outbound = []
        outboundSent = 0
        if notify { delegate?.link(self, closedWith: error) }
    }

    private func fail(_ error: RedisError) { close(error, notify: true) }
}

/// Callbacks gathered during one turn on a client's loop, then run together and in order on the
/// caller's queue: never on the loop, never while the client's state is being changed.
struct CallbackOutbox {
    private var pending: [@Sendable () -> Void] = []

    mutating func append(_ callback: @escaping @Sendable () -> Void) { pending.append(callback) }

    mutating func flush(on queue: DispatchQueue) {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending = []
        queue.async { for f in batch { f() } }
    }
}

