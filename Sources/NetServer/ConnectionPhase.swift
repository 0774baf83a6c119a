// The life of a connection as data: each phase owns what it needs, the transitions are the
// methods below, and the once-a-second sweep reads its timeouts from the phase.
//
//   http ──upgrade──▶ webSocket ──close(code:)──▶ closeSent
//     │                   │                          │
//     │ Connection: close │ the peer's close,        │ the peer's close,
//     │ bad request, 408, │ a protocol error,        │ a protocol error,
//     │ TLS error,        │ TLS error                │ TLS error
//     │ shutdown          │                          │
//     ▼                   ▼                          ▼
//   closing: nothing more is read; what is queued goes out, then FIN ──drained──▶ closed
//
//   any phase ──EOF, socket error, timeout, slow consumer, shutdown deadline──▶ closed
import HTTPCodec
import WebSocketCodec

extension Connection {
    enum Phase {
        /// Reading requests and answering them, one after another (keep-alive).
        case http(HTTPPhase)
        /// Upgraded: messages go both ways.
        case webSocket(WebSocketPhase)
        /// Our close frame is queued (since the given monotonic ms): we send nothing more, and
        /// read until the peer's close answers it (or the close timeout).
        case closeSent(WebSocketPhase, since: Int64)
        /// Nothing more is read. When the socket has taken what is queued, the connection
        /// half-closes and ends; the close timeout ends it otherwise.
        case closing(ClosingPhase)
        /// Torn down: the descriptor is closed and every queue released.
        case closed
    }
}

/// An HTTP/1.1 connection between or within requests.
struct HTTPPhase {
    /// Mutated only in place (`Phase.withHTTP`): a copy would duplicate its buffer.
    var parser: HTTPRequestParser
    /// Monotonic ms when the request now arriving began; nil between requests (then the
    /// idle keep-alive timeout applies instead of the header timeout).
    var requestStartedAt: Int64?

    /// The parser's next result, noting when a partial request started.
    mutating func next(now: () -> Int64) -> HTTPParseResult {
        let result = parser.next()
        switch result {
        case .needMoreData:
            if !parser.hasPartialRequest {
                requestStartedAt = nil
            } else if requestStartedAt == nil {
                requestStartedAt = now()
            }
        case .request:
            requestStartedAt = nil
        case .error:
            break
        }
        return result
    }
}

/// An upgraded connection.
struct WebSocketPhase {
    /// Mutated only in place (`Phase.withWebSocket`): a copy would duplicate its buffers.
    var machine: WebSocketConnectionMachine
    /// Told of messages, and of the end at teardown.
    let delegate: WebSocketDelegate
    /// Monotonic ms of our last ping (or of the upgrade).
    var lastPingAt: Int64
}

/// A connection finishing its last writes.
struct ClosingPhase {
    /// Monotonic ms when closing began (for a WebSocket we closed: when our close frame was queued).
    let since: Int64
    /// The WebSocket's delegate, told at teardown; nil for an HTTP connection.
    let delegate: WebSocketDelegate?
}

/// What the sweep must do for a connection now.
enum SweepAction: Equatable {
    /// The request head did not complete in time: answer 408 and close.
    case requestTimeout
    /// Time for a WebSocket ping.
    case ping
    /// End the connection at once, for this reason.
    case drop(String)
}

extension Connection.Phase {
    var isClosed: Bool {
        if case .closed = self { return true }
        return false
    }

    /// Whether the connection was upgraded and has not been torn down.
    var isWebSocket: Bool {
        switch self {
        case .webSocket, .closeSent: return true
        case .closing(let c): return c.delegate != nil
        case .http, .closed: return false
        }
    }

    /// The delegate to tell when the connection ends.
    var delegate: WebSocketDelegate? {
        switch self {
        case .webSocket(let ws), .closeSent(let ws, _): return ws.delegate
        case .closing(let c): return c.delegate
        case .http, .closed: return nil
        }
    }

    // MARK: Timeouts

    /// The timeouts of each phase: what the once-a-second sweep must do at `now`, given when
    /// bytes last arrived. (The TLS handshake timeout belongs to `TLSChannel`.)
    func due(now: Int64, lastReadAt: Int64, config: ServerConfiguration) -> SweepAction? {
        switch self {
        case .http(let h):
            if let started = h.requestStartedAt {
                // Slowloris: the request head did not complete in time.
                return now - started > config.headerTimeoutMs ? .requestTimeout : nil
            }
            return now - lastReadAt > config.idleTimeoutMs ? .drop("idle keep-alive timeout") : nil
        case .webSocket(let ws):
            if now - lastReadAt > config.webSocketSilenceTimeoutMs {
                // Phones sleep and vanish without a FIN: a peer silent this long is gone.
                return .drop("silent for \(config.webSocketSilenceTimeoutMs / 1000) s")
            }
            return now - ws.lastPingAt >= config.pingIntervalMs ? .ping : nil
        case .closeSent(_, let since):
            return now - since > config.closeTimeoutMs ? .drop("close timeout") : nil
        case .closing(let c):
            return now - c.since > config.closeTimeoutMs ? .drop("close timeout") : nil
        case .closed:
            return nil
        }
    }

    // MARK: Transitions

    /// Our close frame for `code`, with the move to `.closeSent`; nil when the connection is
    /// not an open WebSocket, or when the machine has already failed the connection (its own
    /// close frame is on its way).
    mutating func sendClose(code: UInt16, reason: String, now: Int64) -> [UInt8]? {
        guard case .webSocket(var ws) = self else { return nil }
        self = .closed   // take the payload out, so the machine is mutated without a copy
        let frame = ws.machine.initiateClose(code: code, reason: reason)
        self = frame.isEmpty ? .webSocket(ws) : .closeSent(ws, since: now)
        return frame.isEmpty ? nil : frame
    }

    /// Stops reading: the connection ends once its queued bytes are out. No effect once
    /// closing or closed.
    mutating func beginClosing(now: Int64) {
        switch self {
        case .http: self = .closing(ClosingPhase(since: now, delegate: nil))
        case .webSocket(let ws): self = .closing(ClosingPhase(since: now, delegate: ws.delegate))
        case .closeSent(let ws, let since): self = .closing(ClosingPhase(since: since, delegate: ws.delegate))
        case .closing, .closed: break
        }
    }

    // MARK: In-place access

    /// Runs `body` on the HTTP phase's data in place, or returns nil in another phase. The
    /// payload is taken out while `body` runs, so the parser's buffer is not copied: `body`
    /// must not reach the connection (it would see `.closed`).
    mutating func withHTTP<R>(_ body: (inout HTTPPhase) -> R) -> R? {
        guard case .http(var h) = self else { return nil }
        self = .closed
        let r = body(&h)
        self = .http(h)
        return r
    }

    /// The same for the WebSocket's data, open or after our close frame.
    mutating func withWebSocket<R>(_ body: (inout WebSocketPhase) -> R) -> R? {
        switch self {
        case .webSocket(var ws):
            self = .closed
            let r = body(&ws)
            self = .webSocket(ws)
            return r
        case .closeSent(var ws, let since):
            self = .closed
            let r = body(&ws)
            self = .closeSent(ws, since: since)
            return r
        case .http, .closing, .closed:
            return nil
        }
    }
}
