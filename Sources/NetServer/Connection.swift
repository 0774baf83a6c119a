// One TCP connection: HTTP/1.1 until an Upgrade, then WebSocket. Socket I/O and the moves
// between phases live here; what each phase holds and when it times out is in
// ConnectionPhase.swift; parsing and the WebSocket protocol rules live in the codecs
// (HTTPCodec, WebSocketCodec); TLS, when configured, is a TLSChannel under it all.
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

    /// Where the connection is in its life, with the data of that phase (ConnectionPhase.swift).
    private var phase: Phase
    /// Index in `loop.connections` while registered there.
    var loopSlot: Int?
    /// Whether the poller also watches for writability: only while bytes wait for the socket.
    private var wantsWritable = false
    /// Plaintext waiting for the socket (with TLS: waiting to be sealed into records).
    private var outbound = OutboundQueue()
    /// nil: plain TCP.
    private var tls: TLSChannel?
    /// permessage-deflate as negotiated at the upgrade; kept for the connection's life, so
    /// the broadcast groups pick the matching compressed frames and can count it on leaving.
    public private(set) var deflate: DeflateParameters?
    var groups: [BroadcastGroup] = []
    /// Monotonic ms of the last bytes received; drives the idle and silence timeouts.
    private var lastReadAt: Int64

    init(fd: Int32, id: UInt64, remoteAddress: String, loop: EventLoop, server: Server) {
        self.fd = fd
        self.id = id
        self.remoteAddress = remoteAddress
        self.loop = loop
        self.server = server
        let now = monotonicMillis()
        self.lastReadAt = now
        self.phase = .http(HTTPPhase(parser: HTTPRequestParser(limits: server.configuration.httpLimits)))
        self.tls = server.configuration.tls.map { TLSChannel(session: $0.makeSession(), openedAt: now) }
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

    /// Whether the connection was upgraded to WebSocket (and is not torn down yet).
    public var isWebSocket: Bool { phase.isWebSocket }

    /// Whether the connection has been torn down.
    var isClosed: Bool { phase.isClosed }

    /// The client's address for `request`: the peer's, or, when the peer is a trusted proxy
    /// (`ServerConfiguration.trustedProxies`), the one its `Forwarded` / `X-Forwarded-For` gives.
    public func clientAddress(for request: HTTPRequest) -> String {
        ForwardedFor.clientAddress(peer: remoteAddress, headers: request.headers, trusted: server.configuration.trustedProxies)
    }

    // MARK: Reading

    private func readable() {
        guard !isClosed else { return }
        let buf = loop.readBuffer
        while true {
            let n = recv(fd, buf.baseAddress, buf.count, 0)
            if n > 0 {
                lastReadAt = monotonicMillis()
                loop.stats.bytesIn += n
                let bytes = UnsafeRawBufferPointer(rebasing: buf[0..<n])
                if tls == nil { received(bytes) } else { receivedCiphertext(bytes) }
                if isClosed || n < buf.count { return }
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

    /// Plaintext from the peer, for the phase's codec.
    private func received(_ bytes: UnsafeRawBufferPointer) {
        switch phase {
        case .http:
            phase.withHTTP { $0.parser.append(bytes) }
            processHTTP()
        case .webSocket, .closeSent:
            receivedWebSocket(bytes)
        case .closing, .closed:
            break   // bytes after we decided to close (e.g. after an error response) are discarded
        }
    }

    private func receivedCiphertext(_ bytes: UnsafeRawBufferPointer) {
        guard tls != nil else { return }
        let r = tls!.receive(bytes)   // in place: a copy would share the wire queue's storage
        if let error = r.error {
            // Plain HTTP on the TLS port, an old protocol version, garbage: send the alert
            // OpenSSL produced (if any) and close.
            server.log(.debug, "connection \(id): \(error.description)")
            if error.kind == .plainHTTP {
                // Someone typed http:// for an https port: say so in words a browser shows.
                var h = HTTPHeaders(); h.add("Connection", "close")
                tls!.queueInClear(HTTPResponse.text(400, server.configuration.plainHTTPOnTLSMessage, headers: h).serialize())
            }
            phase.beginClosing(now: monotonicMillis())
            flushOutbound()
            return
        }
        if r.handshakeCompleted {
            server.log(.debug, "connection \(id): TLS \(tls!.session.negotiatedProtocol ?? "?") established")
        }
        if !r.plaintext.isEmpty {
            r.plaintext.withUnsafeBytes { received($0) }
        }
        if r.peerClosed { teardown(reason: "TLS close_notify"); return }
        if tls?.hasPendingBytes == true { flushOutbound() }
    }

    private func peerClosed() {
        // EOF. A WebSocket peer that vanishes without a close frame is 1006 for the app.
        teardown(reason: "peer closed")
    }

    // MARK: HTTP

    private func processHTTP() {
        while let result = phase.withHTTP({ $0.next(now: monotonicMillis) }) {
            switch result {
            case .needMoreData:
                return
            case .error(let e):
                server.log(.debug, "connection \(id): bad request (\(e.status)): \(e.message)")
                var h = HTTPHeaders(); h.add("Connection", "close")
                send(response: HTTPResponse.text(e.status, e.message, headers: h), headOnly: false, keepAlive: false)
                return
            case .request(let request):
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

    /// Queues a response; without keep-alive the connection closes once it is out.
    private func send(response: HTTPResponse, headOnly: Bool, keepAlive: Bool) {
        var r = response
        if !keepAlive { r.headers.set("Connection", "close") }
        enqueue(ByteBuffer(r.serialize(headOnly: headOnly)), kind: .ordinary)
        if !keepAlive { phase.beginClosing(now: monotonicMillis()) }
        flushOutbound()
    }

    private func upgrade(_ request: HTTPRequest) {
        guard let makeDelegate = server.configuration.webSocketRoute, let d = makeDelegate(request, self) else {
            send(response: .text(404, "no WebSocket endpoint at this path"), headOnly: false, keepAlive: false)
            return
        }
        // The route is application code: it may have closed the connection meanwhile.
        guard case .http = phase else { return }
        switch WebSocketHandshake.accept(request, config: server.configuration.handshake, secure: server.isSecure) {
        case .failure(let rejected):
            send(response: rejected.response, headOnly: false, keepAlive: false)
        case .success(let accepted):
            let leftover = phase.withHTTP { $0.parser.takeBuffered() } ?? []
            deflate = accepted.deflate
            let machine = WebSocketConnectionMachine(deflate: accepted.deflate, limits: server.configuration.webSocketLimits)
            phase = .webSocket(WebSocketPhase(machine: machine, delegate: d, lastPingAt: monotonicMillis()))
            loop.stats.webSocketsOpened += 1
            enqueue(ByteBuffer(accepted.response.serialize()), kind: .ordinary)
            flushOutbound()
            server.log(.debug, "connection \(id) from \(clientAddress(for: request)) upgraded to WebSocket\(deflate != nil ? " (permessage-deflate)" : "")")
            d.webSocketDidOpen(self)
            if !leftover.isEmpty, !isClosed {
                leftover.withUnsafeBytes { receivedWebSocket($0) }
            }
        }
    }

    // MARK: WebSocket

    private func receivedWebSocket(_ bytes: UnsafeRawBufferPointer) {
        guard let (events, delegate) = phase.withWebSocket({ ($0.machine.receive(bytes), $0.delegate) }) else { return }
        // The machine may already have failed the connection while messages that arrived
        // before the error are delivered here: they get their echo before its close frame.
        for event in events {
            if isClosed { return }
            switch event {
            case .text(let t):
                loop.stats.messagesIn += 1
                delegate.webSocket(self, didReceiveText: t)
            case .binary(let b):
                loop.stats.messagesIn += 1
                delegate.webSocket(self, didReceiveBinary: b)
            case .ping, .pong:
                break
            case .send(let bytes):
                enqueue(ByteBuffer(bytes), kind: .ordinary)
                flushOutbound()
            case .closed(let code, let reason):
                server.log(.debug, "connection \(id) WebSocket closed (\(code.map(String.init) ?? "no code")\(reason.isEmpty ? "" : ": \(reason)"))")
                phase.beginClosing(now: monotonicMillis())
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
        guard case .webSocket = phase else { return }   // nothing after our close frame
        let frame = WebSocketConnectionMachine.frameMessage(opcode: opcode, payload: payload, deflate: deflate,
                                                            limits: server.configuration.webSocketLimits, compressor: &loop.compressor)
        loop.stats.messagesOut += 1
        enqueue(ByteBuffer(frame), kind: kind)
        flushOutbound()
    }

    /// Starts the closing handshake (e.g. 1001 on shutdown). The connection ends when the
    /// peer answers, or after the close timeout. An HTTP connection closes once its queued
    /// responses are out.
    public func close(code: UInt16 = WebSocketCloseCode.normal, reason: String = "") {
        loop.execute { self.closeOnLoop(code: code, reason: reason) }
    }

    func closeOnLoop(code: UInt16, reason: String) {
        switch phase {
        case .webSocket:
            guard let frame = phase.sendClose(code: code, reason: reason, now: monotonicMillis()) else { return }
            enqueue(ByteBuffer(frame), kind: .ordinary)
            flushOutbound()
        case .http:
            phase.beginClosing(now: monotonicMillis())
            flushOutbound()
        case .closeSent, .closing, .closed:
            break
        }
    }

    /// The fan-out path (LoopFanout): the broadcasts this member has not had, oldest first.
    /// When nothing else waits for the socket (the usual case) they go out in one gathered
    /// write straight from the shared frames, without a queue entry; what the socket does not
    /// take, and everything on a TLS or busy connection, goes through the outbound queue.
    func deliver(_ messages: ArraySlice<QueuedBroadcast>) {
        guard case .webSocket = phase, !messages.isEmpty else { return }
        loop.stats.messagesOut += messages.count
        guard tls == nil, outbound.isEmpty, messages.count <= 16 else {
            for m in messages { enqueue(frame(of: m.frames), kind: m.kind) }
            flushOutbound()
            return
        }
        // Only the newest state of a burst is worth sending (as the queue would replace them).
        let newestState = messages.lastIndex { $0.kind == .supersedable }
        func sent(_ k: Int) -> Bool { messages[k].kind != .supersedable || k == newestState }
        var total = 0
        let (written, error) = sendGathered(fd: fd, capacity: messages.count) { iov in
            var n = 0
            for k in messages.indices where sent(k) {
                let b = frame(of: messages[k].frames)
                iov[n] = iovec(iov_base: b.base, iov_len: b.count)
                total += b.count
                n += 1
            }
            loop.stats.supersededMessages += messages.count - n
            return n
        }
        if written < 0 && error != EAGAIN && error != EWOULDBLOCK {
            teardown(reason: "write error")
            return
        }
        var skip = max(written, 0)
        loop.stats.bytesOut += skip
        guard skip < total else { return }   // the usual case: all of it went out
        // The socket took part: the rest waits in the queue for writability.
        for k in messages.indices where sent(k) {
            let b = frame(of: messages[k].frames)
            if skip >= b.count { skip -= b.count; continue }
            outbound.append(b, kind: messages[k].kind, offset: skip)
            skip = 0
        }
        flushOutbound()
    }

    /// The frame this connection takes: compressed if it negotiated permessage-deflate.
    private func frame(of frames: BroadcastFrames) -> ByteBuffer {
        if let d = deflate, let c = frames.compressed(windowBits: d.serverMaxWindowBits) { return c }
        return frames.plain
    }

    // MARK: Writing

    private func enqueue(_ buffer: ByteBuffer, kind: OutboundKind) {
        guard !isClosed else { return }
        let before = outbound.entries.count - outbound.head
        outbound.append(buffer, kind: kind)
        if kind == .supersedable, outbound.entries.count - outbound.head <= before {
            loop.stats.supersededMessages += 1
        }
        let sealedBytes = tls?.pendingByteCount ?? 0
        if outbound.byteCount + sealedBytes > server.configuration.maxOutboundBytes {
            // A phone that stopped reading must not hold the server's memory: drop it.
            loop.stats.slowClientsDropped += 1
            server.log(.info, "connection \(id): outbound queue over \(server.configuration.maxOutboundBytes) bytes, closing (\(WebSocketCloseCode.policyViolation))")
            outbound.removeAll()
            if phase.isWebSocket && sealedBytes == 0 {
                // Best effort: the socket is full, so this close frame may not get through.
                var close = WebSocketFrameEncoder.encode(opcode: .close, payload: WebSocketFrameEncoder.closePayload(code: WebSocketCloseCode.policyViolation, reason: "too slow"))
                if let tls { close = tls.seal(close) }
                close.withUnsafeBytes { _ = Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            tls?.discardPending()
            teardown(reason: "slow consumer")
        }
    }

    /// Writes what is queued; waits for writability if the socket is full. A closing
    /// connection ends here once everything is out.
    func flushOutbound() {
        guard !isClosed else { return }
        let drained: Bool
        if tls == nil {
            let before = outbound.byteCount
            if !outbound.isEmpty {
                guard outbound.flush(fd: fd) else { teardown(reason: "write error"); return }
            }
            loop.stats.bytesOut += before - outbound.byteCount
            drained = outbound.isEmpty
        } else {
            switch tls!.flush(fd: fd, plaintext: &outbound, bytesOut: &loop.stats.bytesOut) {
            case .drained: drained = true
            case .waiting: drained = false
            case .failed: teardown(reason: "write error"); return
            }
        }
        if drained {
            if wantsWritable { loop.poller.setWritable(fd, false); wantsWritable = false }
            if case .closing = phase { finishClose() }
        } else if !wantsWritable {
            loop.poller.setWritable(fd, true)
            wantsWritable = true
        }
    }

    private func finishClose() {
        // We are done sending: half-close so the peer sees our last bytes before FIN.
        tls?.sendCloseNotify(fd: fd)
        shutdown(fd, Int32(SHUT_WR))
        teardown(reason: "closed")
    }

    // MARK: Timeouts (called by the loop's once-a-second sweep)

    func sweep(now: Int64, config: ServerConfiguration) {
        guard !isClosed else { return }
        if tls?.handshakeIsOverdue(now: now, timeoutMs: config.tlsHandshakeTimeoutMs) == true {
            // A client that opens TCP and never finishes the handshake holds nothing for long.
            teardown(reason: "TLS handshake not finished in time")
            return
        }
        switch phase.due(now: now, lastReadAt: lastReadAt, config: config) {
        case nil:
            break
        case .requestTimeout:
            send(response: .text(408, "request headers not complete in time"), headOnly: false, keepAlive: false)
        case .ping:
            phase.withWebSocket { $0.lastPingAt = now }
            enqueue(ByteBuffer(WebSocketFrameEncoder.encode(opcode: .ping, payload: [])), kind: .ordinary)
            flushOutbound()
        case .drop(let reason):
            teardown(reason: reason)
        }
    }

    // MARK: Teardown

    /// Ends the connection at once. Safe to call more than once.
    func teardown(reason: String) {
        guard !isClosed else { return }
        let delegate = phase.delegate
        phase = .closed
        server.log(.debug, "connection \(id) closed: \(reason)")
        loop.unregister(self)
        for g in groups { g.removeOnLoop(self) }
        groups = []
        outbound.removeAll()
        tls = nil
        delegate?.webSocketDidClose(self)
        loop.poller.remove(fd)
        Glibc.close(fd)
        server.connectionClosed(on: loop)
    }
}

extension Connection: PollHandler {
    func pollReady(readable: Bool, writable: Bool) {
        if readable { self.readable() }
        if writable && !isClosed { flushOutbound() }
    }
}
