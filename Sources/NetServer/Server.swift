// The server: a listening socket, N event loops, routing of HTTP requests and WebSocket
// upgrades, and graceful shutdown.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import HTTPCodec
import WebSocketCodec
import Logging
import Synchronization
import TLS

public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Event loops (serial queues); connections are spread over them round-robin.
    public var loopCount = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4))
    public var webRoot: String?
    public var httpLimits = HTTPLimits()
    public var webSocketLimits = WebSocketLimits()
    public var handshake = WebSocketHandshakeConfig()
    /// Bytes queued for one connection before it is dropped as too slow (1008).
    public var maxOutboundBytes = 1 << 20
    public var maxConnections = 50_000
    public var headerTimeoutMs: Int64 = 10_000
    public var idleTimeoutMs: Int64 = 60_000
    public var pingIntervalMs: Int64 = 20_000
    public var webSocketSilenceTimeoutMs: Int64 = 60_000
    public var closeTimeoutMs: Int64 = 5_000
    /// TLS: when set, every connection on this server is https / wss. The context can be
    /// reloaded in place (SIGHUP) without touching open connections.
    public var tls: TLSServerContext?
    public var tlsHandshakeTimeoutMs: Int64 = 10_000
    /// TLS only: the text of the 400 answered, unencrypted, to a client that speaks plain HTTP
    /// to the TLS port (someone typed http://), in words a browser shows.
    public var plainHTTPOnTLSMessage = "This server speaks only https: use https:// in the address."
    /// Sent as `Content-Security-Policy` on every response that does not set its own; nil sends
    /// none. The default suits pages that load everything from their own origin; an application
    /// whose pages need more (WebSockets, data: images) supplies its own.
    public var contentSecurityPolicy: String? = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    public var logger = Logger(label: "classctl.net")
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` headers are believed
    /// (`Connection.clientAddress(for:)`); empty: the socket's peer is the client.
    public var trustedProxies: [IPRange] = []

    /// Application routes, consulted before static files. Called on a loop queue.
    public var responder: (@Sendable (HTTPRequest, Connection) -> HTTPResponse?)?
    /// Returns the delegate for a WebSocket upgrade at this request's path, or nil (404).
    /// Called on the connection's loop queue.
    public var webSocketRoute: (@Sendable (HTTPRequest, Connection) -> WebSocketDelegate?)?

    public init() {}
}

/// Immutable configuration and a listener set up in `start()` before any loop uses it;
/// the acceptors are owned by their loops and the counters are atomic.
public final class Server: @unchecked Sendable {
    public let configuration: ServerConfiguration
    public let loops: [EventLoop]
    public private(set) var port = 0
    public var isSecure: Bool { configuration.tls != nil }

    private var listenFD: Int32 = -1
    private var acceptors: [Acceptor] = []
    private let nextID = Atomic<UInt64>(1)
    private let open = Atomic<Int>(0)
    private let staticFiles: StaticFiles?
    private let shuttingDown = Atomic<Bool>(false)
    private let allClosed = DispatchSemaphore(value: 0)

    public init(configuration: ServerConfiguration) {
        self.configuration = configuration
        loops = (0..<max(1, configuration.loopCount)).map { EventLoop(index: $0) }
        staticFiles = configuration.webRoot.flatMap { StaticFiles(root: $0) }
        _ = Socket.ignoreSIGPIPE
    }

    public var openConnections: Int { open.load(ordering: .relaxed) }

    /// Binds and starts accepting. Throws (before anything is served) when the address is
    /// taken or invalid.
    public func start() throws {
        if let failure = loops.lazy.compactMap(\.poller.failure).first { throw failure }
        let l = try Socket.listen(host: configuration.host, port: configuration.port)
        listenFD = l.fd
        port = l.port
        // Every loop watches the listening socket and accepts for itself (the kernel wakes one
        // of them per connection): a new connection usually starts on the loop that accepted
        // it, with no hop between threads.
        for loop in loops { loop.poller.run() }
        acceptors = loops.map { Acceptor(server: self, loop: $0, fd: l.fd) }
        for acceptor in acceptors {
            let code = acceptor.loop.queue.sync { acceptor.watch() }
            if code != 0 {
                acceptors.forEach { a in a.loop.queue.sync { a.stop() } }
                loops.forEach { $0.poller.close() }
                close(l.fd)
                listenFD = -1
                throw PollerError(call: "epoll_ctl(listening socket)", code: code)
            }
        }
        for loop in loops {
            loop.queue.async { [configuration] in
                loop.startTimer(interval: .seconds(1)) { loop in
                    let now = monotonicMillis()
                    // Iterate a copy: a sweep may tear connections down (which edits the list).
                    for c in loop.connections { c.sweep(now: now, config: configuration) }
                    loop.publishStats()
                }
            }
        }
    }

    /// Called by an acceptor on its loop for each accepted socket.
    fileprivate func adopt(_ fd: Int32, address: sockaddr_storage, acceptedOn here: EventLoop) {
        if shuttingDown.load(ordering: .relaxed) || open.load(ordering: .relaxed) >= configuration.maxConnections {
            close(fd)
            return
        }
        Socket.setNonBlocking(fd)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        Socket.setNoDelay(fd)
        open.add(1, ordering: .relaxed)
        // The least busy loop takes it; on a tie the accepting loop, which can start it at once.
        var target = here
        var least = here.assigned.load(ordering: .relaxed)
        for loop in loops where loop !== here {
            let n = loop.assigned.load(ordering: .relaxed)
            if n < least { least = n; target = loop }
        }
        target.assigned.add(1, ordering: .relaxed)
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let addr = Socket.addressText(address)
        if target === here {
            Connection(fd: fd, id: id, remoteAddress: addr, loop: here, server: self).start()
        } else {
            target.queue.async { [unowned self, target] in
                Connection(fd: fd, id: id, remoteAddress: addr, loop: target, server: self).start()
            }
        }
    }

    func connectionClosed(on loop: EventLoop) {
        loop.assigned.subtract(1, ordering: .relaxed)
        let left = open.subtract(1, ordering: .relaxed).newValue
        if left == 0 && shuttingDown.load(ordering: .relaxed) { allClosed.signal() }
    }

    /// Creates a broadcast group spanning this server's loops.
    public func makeBroadcastGroup() -> BroadcastGroup {
        BroadcastGroup(loops: loops, compressionThreshold: configuration.webSocketLimits.compressionThreshold)
    }

    /// Counters summed over the loops, without waiting for any of them: the calling loop's
    /// own counters are current, the others' at most a second old. Safe on a loop (routes).
    public func stats() -> LoopStats {
        var total = LoopStats()
        for loop in loops { total.add(loop.inLoop ? loop.stats : loop.publishedStats) }
        return total
    }

    /// Current counters, read on each loop's queue: blocks until every loop has run it. For
    /// tests and tools outside the loops; never call it on a loop (two loops doing so at
    /// once would wait for each other).
    public func currentStats() -> LoopStats {
        precondition(!loops.contains { $0.inLoop }, "currentStats() blocks on the loops; use stats() on a loop")
        var total = LoopStats()
        for loop in loops { total.add(loop.queue.sync { loop.stats }) }
        return total
    }

    /// Graceful shutdown: stop accepting, close WebSockets with 1001, let queued bytes
    /// drain until `timeout`, then drop whatever is left. Blocks until done.
    /// WebSockets are closed with `closeCode` (1001 going away; 1012 when the server restarts
    /// and phones should come back).
    public func shutdown(timeout: Double = 3, closeCode: UInt16 = WebSocketCloseCode.goingAway, reason: String = "server shutting down") {
        guard !shuttingDown.exchange(true, ordering: .relaxed) else { return }
        for acceptor in acceptors {
            acceptor.loop.queue.sync { acceptor.stop() }
        }
        if listenFD >= 0 { close(listenFD); listenFD = -1 }
        for loop in loops {
            loop.queue.sync {
                for c in loop.connections {
                    if c.isWebSocket {
                        c.closeOnLoop(code: closeCode, reason: reason)
                    } else {
                        c.closeOnLoop(code: WebSocketCloseCode.normal, reason: "")
                    }
                }
            }
        }
        if open.load(ordering: .relaxed) > 0 {
            _ = allClosed.wait(timeout: .now() + timeout)
        }
        for loop in loops {
            loop.queue.sync {
                for c in loop.connections { c.teardown(reason: "shutdown deadline") }
                loop.stopTimer()
                loop.poller.close()
            }
        }
    }

    // MARK: HTTP routing

    func respond(to request: HTTPRequest, connection: Connection) -> HTTPResponse {
        var response = route(request, connection)
        // Security headers on every response.
        let h = response.headers
        if !h.contains("X-Content-Type-Options") { response.headers.add("X-Content-Type-Options", "nosniff") }
        if !h.contains("Referrer-Policy") { response.headers.add("Referrer-Policy", "no-referrer") }
        if let policy = configuration.contentSecurityPolicy, !h.contains("Content-Security-Policy") {
            response.headers.add("Content-Security-Policy", policy)
        }
        return response
    }

    private static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"]

    private func route(_ request: HTTPRequest, _ connection: Connection) -> HTTPResponse {
        if let r = configuration.responder?(request, connection) { return r }
        guard Server.knownMethods.contains(request.method) else {
            return .text(501, "this server does not support the method \(request.method)")
        }
        if request.path == "/healthz" {
            guard request.method == "GET" || request.method == "HEAD" else { return .methodNotAllowed(allow: "GET, HEAD") }
            return .text(200, "ok")
        }
        guard request.method == "GET" || request.method == "HEAD" else { return .methodNotAllowed(allow: "GET, HEAD") }
        if let files = staticFiles, let r = files.respond(to: request) { return r }
        return .text(404, "not found")
    }

    /// Serves a file of the web root under another path (e.g. the participant page for
    /// /c/CODE), with the same caching, compression and headers as any static file.
    public func staticResponse(for request: HTTPRequest, file: String) -> HTTPResponse? {
        var r = request
        r.target = file
        return staticFiles?.respond(to: r)
    }

    func log(_ level: Logger.Level, _ message: @autoclosure () -> String) {
        if configuration.logger.logLevel <= level {
            configuration.logger.log(level: level, "\(message())")
        }
    }
}

/// Accepts connections on one loop. Owned by that loop's queue.
private final class Acceptor: PollHandler, @unchecked Sendable {
    unowned let server: Server
    unowned let loop: EventLoop
    let fd: Int32
    private var watching = false
    private var stopped = false

    init(server: Server, loop: EventLoop, fd: Int32) {
        self.server = server
        self.loop = loop
        self.fd = fd
    }

    /// Returns 0, or the errno of a failure (logged).
    @discardableResult
    func watch() -> Int32 {
        guard !stopped, !watching else { return 0 }
        watching = loop.poller.add(fd, self, exclusive: true)
        if watching { return 0 }
        let code = errno
        server.log(.error, "cannot watch the listening socket on loop \(loop.index) (errno \(code))")
        return code
    }

    func stop() {
        stopped = true
        if watching { loop.poller.remove(fd); watching = false }
    }

    func pollReady(readable: Bool, writable: Bool) {
        // A bounded batch, so one loop does not take a whole burst while the others idle.
        for _ in 0..<64 {
            var storage = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &len) }
            }
            if client < 0 {
                let e = errno
                if e == EINTR || e == ECONNABORTED { continue }
                if e == EMFILE || e == ENFILE {
                    // Out of descriptors: stop accepting briefly instead of spinning on a
                    // listener that stays readable.
                    server.log(.warning, "accept: out of file descriptors; pausing accepts for 100 ms")
                    loop.poller.remove(fd)
                    watching = false
                    loop.queue.asyncAfter(deadline: .now() + .milliseconds(100)) { self.watch() }
                }
                return
            }
            server.adopt(client, address: storage, acceptedOn: loop)
        }
    }
}
