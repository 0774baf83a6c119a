// One TCP connection: HTTP/1.1 until an Upgrade, then WebSocket. Socket I/O lives here;
// parsing and the WebSocket protocol rules live in the codecs (HTTPCodec, WebSocketCodec).
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import HTTPCodec
import WebSocketCodec
import TLS

/// Receives a WebSocket connection's events, always on the connection's loop queue.
public protocol WebSocketDelegate: AnyObject {
    func webSocketDidOpen(_ connection: Connection)
    func webSocket(_ connection: Connection, didReceiveText text: [UInt8])
    func webSocket(_ connection: Connection, didReceiveBinary data: [UInt8])
    func webSocketDidClose(_ connection: Connection)
}

extension WebSocketDelegate {
    public func webSocketDidOpen(_ connection: Connection) {}
    public func webSocket(_ connection: Connection, didReceiveBinary data: [UInt8]) {}
    public func webSocketDidClose(_ connection: Connection) {}
}

/// Confined to `loop.queue`: every property is touched only there. Public methods may be
/// called from any thread; they hop to the loop when needed.
public final class Connection: @unchecked Sendable {
    public let id: UInt64
    public let remoteAddress: String
    public unowned let loop: EventLoop
    /// The server that accepted this connection (routes reach static files and stats through it).
    public unowned let server: Server
    let fd: Int32

    var loopSlot = -1
    /// Whether the poller also watches for writability: only while bytes wait for the socket.
    private var wantsWritable = false

    private var outbound = OutboundQueue()
    /// TLS only: the session, and ciphertext ready for the socket. Plaintext waits in
    /// `outbound` until the socket has drained, and is sealed into records only then.
    private var tls: TLSSession?
    private var wire = OutboundQueue()
    private let openedAt: Int64
    private var http: HTTPRequestParser?
    private var ws: WebSocketConnectionMachine?
    public private(set) var deflate: DeflateParameters?
    private var delegate: WebSocketDelegate?
    /// Set once our close frame is queued. The machine may already be closed while we are
    /// still delivering the messages that arrived before the error (they get their echo first).
    private var closeQueued = false
    var groups: [BroadcastGroup] = []

    /// Monotonic ms of the last bytes received; drives the idle and keepalive timeouts.
    private var lastReadAt: Int64
    private var requestStartedAt: Int64 = 0
    private var lastPingAt: Int64 = 0
    private var closingSince: Int64 = 0
    private var closeAfterFlush = false
    private(set) var isTornDown = false

    init(fd: Int32, id: UInt64, remoteAddress: String, loop: EventLoop, server: Server) {
        self.fd = fd
        self.id = id
        self.remoteAddress = remoteAddress
        self.loop = loop
        self.server = server
        self.lastReadAt = monotonicMillis()
        self.openedAt = lastReadAt
        self.http = HTTPRequestParser(limits: server.configuration.httpLimits)
        self.tls = server.configuration.tls?.makeSession()
    }

    /// On the loop: registers and starts reading.
    func start() {
        loop.register(self)
        guard loop.poller.add(fd, self) else {
            teardown(reason: "cannot watch the socket (errno \(errno))")
            return
        }
        server.log(.debug, "connection \(id) from \(remoteAddress) opened")
        // The client usually speaks first and at once (a TLS ClientHello, a request): read
        // now instead of waiting one event delivery for bytes that are already here.
        readable()
    }

    public var isWebSocket: Bool { ws != nil }

    /// The client's address for `request`: the peer's, or, when the peer is a trusted proxy
    /// (`ServerConfiguration.trustedProxies`), the one its `Forwarded` / `X-Forwarded-For` gives.
    public func clientAddress(for request: HTTPRequest) -> String {
        ForwardedFor.clientAddress(peer: remoteAddress, headers: request.headers, trusted: server.configuration.trustedProxies)
    }

    // MARK: Reading

    private func readable() {
        guard !isTornDown else { return }
        let buf = loop.readBuffer
        while true {
            let n = recv(fd, buf.baseAddress, buf.count, 0)
            if n > 0 {
                lastReadAt = monotonicMillis()
                loop.stats.bytesIn += n
                let bytes = UnsafeRawBufferPointer(rebasing: buf[0..<n])
                if tls != nil { receivedCiphertext(bytes) } else { received(bytes) }
                if isTornDown || n < buf.count { return }
                continue
            }
            if n == 0 { peerClosed(); return }
            switch errno {
            case EAGAIN, EWOULDBLOCK: return
            case EINTR: continue
            default: teardown(reason: "read error \(errno)"); return
            }
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        if ws != nil {
            receivedWebSocket(bytes)
        } else if http != nil {
            http!.append(bytes)
            processHTTP()
        }
        // Bytes after we decided to close (e.g. after an error response) are discarded.
    }

    private func receivedCiphertext(_ bytes: UnsafeRawBufferPointer) {
        guard let session = tls else { return }
        let r = session.receive(bytes)
        if !r.ciphertextToSend.isEmpty {
            wire.append(ByteBuffer(r.ciphertextToSend), kind: .ordinary)
        }
        if let error = r.error {
            // Plain HTTP on the TLS port, an old protocol version, garbage: send the alert
            // OpenSSL produced (if any) and close.
            server.log(.debug, "connection \(id): \(error.description)")
            if error.kind == .plainHTTP {
                // Someone typed http:// for an https port: say so in words a browser shows.
                var h = HTTPHeaders(); h.add("Connection", "close")
                let r = HTTPResponse.text(400, server.configuration.plainHTTPOnTLSMessage, headers: h)
                wire.append(ByteBuffer(r.serialize()), kind: .ordinary)
            }
            closeAfterFlush = true
            http = nil
            flushOutbound()
            return
        }
        if r.handshakeCompleted {
            server.log(.debug, "connection \(id): TLS \(session.negotiatedProtocol ?? "?") established")
        }
        if !r.plaintext.isEmpty {
            r.plaintext.withUnsafeBytes { received($0) }
        }
        if r.peerClosed { teardown(reason: "TLS close_notify") ; return }
        if !wire.isEmpty { flushOutbound() }
    }

    private func peerClosed() {
        // EOF. A WebSocket peer that vanishes without a close frame is 1006 for the app.
        teardown(reason: "peer closed")
    }

    // MARK: HTTP

    private func processHTTP() {
        // Mutated in place through `http!`: copying the parser out and back would copy its buffer.
        while http != nil, !closeAfterFlush {
            let result = http!.next()
            switch result {
            case .needMoreData:
                if http!.hasPartialRequest {
                    if requestStartedAt == 0 { requestStartedAt = monotonicMillis() }
                } else {
                    requestStartedAt = 0
                }
                return
            case .error(let e):
                server.log(.debug, "connection \(id): bad request (\(e.status)): \(e.message)")
                var h = HTTPHeaders(); h.add("Connection", "close")
                send(response: HTTPResponse.text(e.status, e.message, headers: h), headOnly: false, keepAlive: false)
                http = nil
                return
            case .request(let request):
                requestStartedAt = 0
                loop.stats.httpRequests += 1
                handle(request)
            }
        }
    }

    private func handle(_ request: HTTPRequest) {
        if request.headers.tokens("Upgrade").contains("websocket") || request.headers.contains("Sec-WebSocket-Key") {
            upgrade(request)
            return
        }
        let response = server.respond(to: request, connection: self)
        send(response: response, headOnly: request.method == "HEAD", keepAlive: request.keepAlive)
    }

    private func send(response: HTTPResponse, headOnly: Bool, keepAlive: Bool) {
        var r = response
        if !keepAlive { r.headers.set("Connection", "close") }
        enqueue(ByteBuffer(r.serialize(headOnly: headOnly)), kind: .ordinary)
        if !keepAlive { closeAfterFlush = true }
        flushOutbound()
    }

    private func upgrade(_ request: HTTPRequest) {
        guard let makeDelegate = server.configuration.webSocketRoute, let d = makeDelegate(request, self) else {
            send(response: .text(404, "no WebSocket endpoint at this path"), headOnly: false, keepAlive: false)
            return
        }
        switch WebSocketHandshake.accept(request, config: server.configuration.handshake, secure: server.isSecure) {
        case .failure(let rejected):
            send(response: rejected.response, headOnly: false, keepAlive: false)
        case .success(let accepted):
            let leftover = http?.takeBuffered() ?? []
            http = nil
            deflate = accepted.deflate
            ws = WebSocketConnectionMachine(deflate: accepted.deflate, limits: server.configuration.webSocketLimits)
            delegate = d
            lastPingAt = monotonicMillis()
            loop.stats.webSocketsOpened += 1
            enqueue(ByteBuffer(accepted.response.serialize()), kind: .ordinary)
            flushOutbound()
            server.log(.debug, "connection \(id) from \(clientAddress(for: request)) upgraded to WebSocket\(deflate != nil ? " (permessage-deflate)" : "")")
            d.webSocketDidOpen(self)
            if !leftover.isEmpty, !isTornDown {
                leftover.withUnsafeBytes { receivedWebSocket($0) }
            }
        }
    }

    // MARK: WebSocket

    private func receivedWebSocket(_ bytes: UnsafeRawBufferPointer) {
        guard ws != nil else { return }
        let events = ws!.receive(bytes)   // in place: a copy would duplicate the machine's buffers
        for event in events {
            if isTornDown { return }
            switch event {
            case .text(let t):
                loop.stats.messagesIn += 1
                delegate?.webSocket(self, didReceiveText: t)
            case .binary(let b):
                loop.stats.messagesIn += 1
                delegate?.webSocket(self, didReceiveBinary: b)
            case .ping, .pong:
                break
            case .send(let bytes):
                if bytes.first.map({ $0 & 0x0f }) == WebSocketOpcode.close.rawValue { closeQueued = true }
                enqueue(ByteBuffer(bytes), kind: .ordinary)
                flushOutbound()
            case .closed(let code, let reason):
                closeQueued = true
                server.log(.debug, "connection \(id) WebSocket closed (\(code.map(String.init) ?? "no code")\(reason.isEmpty ? "" : ": \(reason)"))")
                closeAfterFlush = true
                flushOutbound()
                return
            }
        }
    }

    /// Sends a text message to this connection (framed, and compressed if negotiated).
    public func send(text: [UInt8], kind: OutboundKind = .ordinary) {
        loop.execute { self.sendOnLoop(opcode: .text, payload: text, kind: kind) }
    }

    public func send(text: String, kind: OutboundKind = .ordinary) {
        send(text: Array(text.utf8), kind: kind)
    }

    public func send(binary: [UInt8]) {
        loop.execute { self.sendOnLoop(opcode: .binary, payload: binary, kind: .ordinary) }
    }

    private func sendOnLoop(opcode: WebSocketOpcode, payload: [UInt8], kind: OutboundKind) {
        guard ws != nil, !isTornDown, !closeQueued else { return }
        let frame = ws!.frameMessage(opcode: opcode, payload: payload, compressor: &loop.compressor)
        loop.stats.messagesOut += 1
        enqueue(ByteBuffer(frame), kind: kind)
        flushOutbound()
    }

    /// Starts the closing handshake (e.g. 1001 on shutdown). The connection ends when the
    /// peer answers, or after the close timeout.
    public func close(code: UInt16 = WebSocketCloseCode.normal, reason: String = "") {
        loop.execute { self.closeOnLoop(code: code, reason: reason) }
    }

    func closeOnLoop(code: UInt16, reason: String) {
        guard !isTornDown else { return }
        if ws != nil {
            guard !ws!.isClosing, !closeQueued else { return }
            let frame = ws!.initiateClose(code: code, reason: reason)
            closeQueued = true
            closingSince = monotonicMillis()
            enqueue(ByteBuffer(frame), kind: .ordinary)
            flushOutbound()
        } else {
            // HTTP: finish what is queued, then close.
            closeAfterFlush = true
            flushOutbound()
        }
    }

    func enqueueBroadcast(_ frames: BroadcastFrames, kind: OutboundKind) {
        guard ws != nil, !closeQueued, !isTornDown else { return }
        let buffer: ByteBuffer
        if let d = deflate, let c = frames.compressed(windowBits: d.serverMaxWindowBits) {
            buffer = c
        } else {
            buffer = frames.plain
        }
        loop.stats.messagesOut += 1
        enqueue(buffer, kind: kind)
    }

    // MARK: Writing

    private func enqueue(_ buffer: ByteBuffer, kind: OutboundKind) {
        guard !isTornDown else { return }
        let before = outbound.entries.count - outbound.head
        outbound.append(buffer, kind: kind)
        if kind == .supersedable, outbound.entries.count - outbound.head <= before {
            loop.stats.supersededMessages += 1
        }
        if outbound.byteCount + wire.byteCount > server.configuration.maxOutboundBytes {
            // A phone that stopped reading must not hold the server's memory: drop it.
            loop.stats.slowClientsDropped += 1
            server.log(.info, "connection \(id): outbound queue over \(server.configuration.maxOutboundBytes) bytes, closing (1008)")
            outbound.removeAll()
            if ws != nil && wire.isEmpty {
                // Best effort: the socket is full, so this close frame may not get through.
                var close = WebSocketFrameEncoder.encode(opcode: .close, payload: WebSocketFrameEncoder.closePayload(code: WebSocketCloseCode.policyViolation, reason: "too slow"))
                if let session = tls { close = session.encrypt(close) }
                close.withUnsafeBytes { _ = Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            wire.removeAll()
            teardown(reason: "slow consumer")
        }
    }

    /// Writes what is queued; waits for writability if the socket is full.
    func flushOutbound() {
        guard !isTornDown else { return }
        let drained: Bool
        if let session = tls {
            drained = flushTLS(session)
        } else {
            let before = outbound.byteCount
            if !outbound.isEmpty {
                guard outbound.flush(fd: fd) else { teardown(reason: "write error"); return }
            }
            loop.stats.bytesOut += before - outbound.byteCount
            drained = outbound.isEmpty
        }
        if isTornDown { return }
        if drained {
            if wantsWritable { loop.poller.setWritable(fd, false); wantsWritable = false }
            if closeAfterFlush { finishClose() }
        } else if !wantsWritable {
            loop.poller.setWritable(fd, true)
            wantsWritable = true
        }
    }

    /// Writes pending ciphertext; when the socket has taken all of it, seals what waits in
    /// `outbound` into new records and goes on. Returns whether everything went out.
    private func flushTLS(_ session: TLSSession) -> Bool {
        while true {
            if !wire.isEmpty {
                let before = wire.byteCount
                guard wire.flush(fd: fd) else { teardown(reason: "write error"); return false }
                loop.stats.bytesOut += before - wire.byteCount
                if !wire.isEmpty { return false }
            }
            // Application data only after the handshake (OpenSSL would buffer it anyway).
            guard !outbound.isEmpty, session.isHandshakeComplete else { return outbound.isEmpty }
            var sealed: [UInt8] = []
            outbound.drain { sealed.append(contentsOf: session.encrypt($0)) }
            wire.append(ByteBuffer(sealed), kind: .ordinary)
        }
    }

    private func finishClose() {
        // We are done sending: half-close so the peer sees our last bytes before FIN.
        if let session = tls, session.isHandshakeComplete {
            let notify = session.close()
            notify.withUnsafeBytes { _ = Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        shutdown(fd, Int32(SHUT_WR))
        teardown(reason: "closed")
    }

    // MARK: Timeouts (called by the loop's once-a-second sweep)

    func sweep(now: Int64, config: ServerConfiguration) {
        guard !isTornDown else { return }
        if let session = tls, !session.isHandshakeComplete, now - openedAt > config.tlsHandshakeTimeoutMs {
            // A client that opens TCP and never finishes the handshake holds nothing for long.
            teardown(reason: "TLS handshake not finished in time")
            return
        }
        if ws != nil {
            if ws!.isClosing || closeAfterFlush {
                if closingSince == 0 { closingSince = now }
                if now - closingSince > config.closeTimeoutMs { teardown(reason: "close timeout") }
            } else if now - lastReadAt > config.webSocketSilenceTimeoutMs {
                // Phones sleep and vanish without a FIN: a peer silent this long is gone.
                teardown(reason: "silent for \(config.webSocketSilenceTimeoutMs / 1000) s")
            } else if now - lastPingAt >= config.pingIntervalMs {
                lastPingAt = now
                enqueue(ByteBuffer(WebSocketFrameEncoder.encode(opcode: .ping, payload: [])), kind: .ordinary)
                flushOutbound()
            }
        } else if closeAfterFlush {
            if closingSince == 0 { closingSince = now }
            if now - closingSince > config.closeTimeoutMs { teardown(reason: "close timeout") }
        } else if requestStartedAt != 0 && now - requestStartedAt > config.headerTimeoutMs {
            // Slowloris: the request head did not complete in time.
            send(response: .text(408, "request headers not complete in time"), headOnly: false, keepAlive: false)
            http = nil
        } else if requestStartedAt == 0 && now - lastReadAt > config.idleTimeoutMs {
            teardown(reason: "idle keep-alive timeout")
        }
    }

    // MARK: Teardown

    /// Ends the connection at once. Safe to call more than once.
    func teardown(reason: String) {
        guard !isTornDown else { return }
        isTornDown = true
        server.log(.debug, "connection \(id) closed: \(reason)")
        loop.unregister(self)
        for g in groups { g.removeOnLoop(self) }
        groups = []
        outbound.removeAll()
        wire.removeAll()
        tls = nil
        http = nil
        ws = nil
        let d = delegate
        delegate = nil
        d?.webSocketDidClose(self)
        loop.poller.remove(fd)
        Glibc.close(fd)
        server.connectionClosed(on: loop)
    }
}

extension Connection: PollHandler {
    func pollReady(readable: Bool, writable: Bool) {
        if readable { self.readable() }
        if writable && !isTornDown { flushOutbound() }
    }
}
