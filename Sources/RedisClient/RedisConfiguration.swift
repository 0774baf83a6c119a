// Settings and errors shared by the command connection and the subscriber.
import RESPCodec

public struct RedisConfiguration: Sendable {
    /// Server, AUTH credentials and database (`redis://[[user]:password@]host[:port][/db]`).
    public var url: RedisURL
    /// TCP connect plus the replies to AUTH and SELECT, per attempt.
    public var connectTimeoutMs = 2_000
    /// Default time for a command's reply, counted from the call (time spent waiting for a
    /// connection included). Override per command, e.g. for blocking commands.
    public var commandTimeoutMs = 2_000
    /// Reconnect delay after a failed attempt or a dropped connection: starts here and doubles
    /// up to `reconnectMaxDelayMs` (plus up to a quarter of jitter, so nodes do not reconnect in
    /// lockstep); back to the start once a connection is up.
    public var reconnectInitialDelayMs = 100
    public var reconnectMaxDelayMs = 2_000
    /// Commands kept while there is no connection; beyond that they fail at once (`queueFull`).
    public var maxWaitingCommands = 10_000
    /// The subscriber sends PING this often so a link that died silently (no FIN, no RST) is
    /// noticed: no answer within `commandTimeoutMs` drops and reconnects it.
    public var subscriberPingIntervalMs = 5_000
    /// Bounds on one reply (bulk length, array length, nesting, line length).
    public var limits = RESPLimits()

    public init(url: RedisURL) {
        self.url = url
    }

    public init(url: String) throws(RedisURLError) {
        self.url = try RedisURL(url)
    }
}

/// How a command (or a connection attempt) failed. The cases say whether the command may
/// have run: `server` and `timedOut`/`connectionLost`/`protocolError` were sent (a write may
/// have happened), `notConnected`, `queueFull` and `closed` never reached Redis.
public enum RedisError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Redis answered with an error reply: `ERR unknown command ...`, `WRONGTYPE ...`.
    case server(String)
    /// Sent, but no reply within the timeout. The connection is then reset (the replies
    /// behind a stuck one would wait just as long) and reconnected.
    case timedOut(ms: Int)
    /// Sent, and the connection dropped before the reply.
    case connectionLost(String)
    /// The server's bytes are not RESP2 or break a limit; the connection was dropped.
    case protocolError(String)
    /// Never sent: no connection could be made within the command's timeout (the text says
    /// why the last attempt failed), or this connection attempt failed.
    case notConnected(String)
    /// AUTH or SELECT was refused (wrong password, no such database): a configuration error.
    case handshakeFailed(String)
    /// Never sent: `maxWaitingCommands` were already waiting for a connection.
    case queueFull
    /// Never sent, or abandoned: `close()` was called.
    case closed
    /// A typed helper (e.g. `time()`) got a reply of another shape.
    case unexpectedReply(String)

    public var description: String {
        switch self {
        case .server(let m): return "Redis error: \(m)"
        case .timedOut(let ms): return "Redis did not answer within \(ms) ms"
        case .connectionLost(let m): return "connection to Redis lost: \(m)"
        case .protocolError(let m): return "Redis connection dropped: \(m)"
        case .notConnected(let m): return "not connected to Redis: \(m)"
        case .handshakeFailed(let m): return "Redis refused the login: \(m)"
        case .queueFull: return "too many commands waiting for a Redis connection"
        case .closed: return "the Redis client was closed"
        case .unexpectedReply(let m): return "unexpected reply from Redis: \(m)"
        }
    }

    /// Why a connection attempt failed, for commands that then give up waiting (`notConnected`).
    var attemptFailure: String {
        if case .notConnected(let m) = self { return m }
        return description
    }

    /// The command went out and no answer came back: Redis may or may not have carried it out.
    public var outcomeUnknown: Bool {
        switch self {
        case .timedOut, .connectionLost, .protocolError: return true
        default: return false
        }
    }
}

/// What happened to a connection, for logs and for owners that must react to a reconnect.
public enum RedisConnectionEvent: Sendable, Equatable {
    /// Connected, AUTH and SELECT accepted.
    case connected
    /// A connection that was up dropped; reconnecting.
    case disconnected(RedisError)
    /// An attempt failed (refused, timed out, login refused); retrying after a delay.
    case connectFailed(RedisError)
}

/// A first-in first-out queue with O(1) pops (an array and a moving head).
struct FIFO<Element> {
    private var items: [Element] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }
    var count: Int { items.count - head }

    mutating func append(_ e: Element) { items.append(e) }

    mutating func popFirst() -> Element? {
        guard head < items.count else { return nil }
        let e = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: items.count <= 1024)
            head = 0
        } else if head >= 1024 && head * 2 >= items.count {
            items.removeSubrange(0..<head)
            head = 0
        }
        return e
    }

    var first: Element? { head < items.count ? items[head] : nil }

    /// Changes the first element in place; nil when empty.
    mutating func withFirst<R>(_ body: (inout Element) -> R) -> R? {
        guard head < items.count else { return nil }
        return body(&items[head])
    }

    /// Removes and returns every element.
    mutating func removeAll() -> [Element] {
        let rest = Array(items[head...])
        items = []
        head = 0
        return rest
    }

    /// Removes the elements for which `take` is true, keeping the order of the others.
    mutating func remove(where take: (Element) -> Bool) -> [Element] {
        var taken: [Element] = []
        var kept: [Element] = []
        for e in items[head...] {
            if take(e) { taken.append(e) } else { kept.append(e) }
        }
        if !taken.isEmpty { items = kept; head = 0 }
        return taken
    }

    func contains(where test: (Element) -> Bool) -> Bool { items[head...].contains(where: test) }

    func first(where test: (Element) -> Bool) -> Element? { items[head...].first(where: test) }
}

/// Reconnect delays: initial, doubling to the maximum, with jitter.
struct Backoff {
    let initialMs: Int
    let maxMs: Int
    private var nextMs: Int

    init(initialMs: Int, maxMs: Int) {
        self.initialMs = max(1, initialMs)
        self.maxMs = max(self.initialMs, maxMs)
        nextMs = self.initialMs
    }

    mutating func reset() { nextMs = initialMs }

    mutating func next() -> Int {
        let d = nextMs
        nextMs = min(maxMs, nextMs * 2)
        return d + Int.random(in: 0...max(0, d / 4))
    }
}

/// How a client's link to Redis is doing: whether the current link got ready (a loss is then a
/// disconnect, else a failed connect), the delay before the next attempt, why the last one failed.
struct LinkHealth {
    var wasReady = false
    var backoff: Backoff
    var lastFailure = "still connecting"

    init(backoff: Backoff) { self.backoff = backoff }

    mutating func ready() {
        wasReady = true
        backoff.reset()
        lastFailure = "still connecting"
    }

    /// The link is gone; returns whether it had been ready.
    mutating func lost(_ error: RedisError) -> Bool {
        lastFailure = error.attemptFailure
        defer { wasReady = false }
        return wasReady
    }
}

