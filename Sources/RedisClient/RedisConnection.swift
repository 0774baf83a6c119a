// The command connection: commands pipelined on one socket, replies matched to them in order.
//
// A command goes through three places, all on the loop: `submissions` (filled from any thread,
// drained in one turn, so commands sent together go out in one write), `waiting` (no
// connection yet: kept until their deadline), `inFlight` (written: the next reply is the
// head's). Every command ends exactly once, with its reply or an error, by its deadline at
// the latest: nothing ever waits forever on a dead server.
import Dispatch
import NetServer
import RESPCodec

public typealias RedisCompletion = @Sendable (Result<RESPValue, RedisError>) -> Void

/// Redis commands over one pipelined connection that reconnects by itself (AUTH and SELECT
/// from the URL on every connect, backoff between attempts).
///
/// - Completions and events run on `callbackQueue`, in the order the replies arrived.
/// - An error reply (`-ERR ...`) fails its command with `RedisError.server`; the connection
///   stays up. Error replies inside arrays (EXEC) are values.
/// - A command that was written when the connection dropped fails with `connectionLost` (it
///   may have run); one not yet written waits for the next connection until its timeout,
///   then fails with `notConnected` (it never ran). A written command with no reply by its
///   timeout fails with `timedOut` and the connection is reset and reconnected.
/// - Call `close()` when done: the loop holds the socket until then.
///
/// Owned by `loop.queue`: every mutable property is touched only there, except
/// `submissions`, which is behind its lock.
public final class RedisConnection: @unchecked Sendable {
    public let configuration: RedisConfiguration
    public let loop: EventLoop
    private let callbackQueue: DispatchQueue
    private let onEvent: (@Sendable (RedisConnectionEvent) -> Void)?

    private struct Command {
        let bytes: [UInt8]
        let timeoutMs: Int
        /// Uptime nanoseconds.
        let deadline: UInt64
        let completion: RedisCompletion
    }

    private let submissions = Locked<(items: [Command], scheduled: Bool, closed: Bool)>(([], false, false))
    /// Commands written and not yet answered, plus those waiting for a connection, as of the
    /// loop's last turn: how deep the pipeline is (a caller's reply waits behind all of them).
    private let depth = Locked(0)

    /// Commands sent and not yet answered (submitted, waiting or in flight). Any thread.
    public var pendingCommands: Int {
        depth.withLock { $0 } + submissions.withLock { $0.items.count }
    }

    private var link: RESPLink?
    private var waiting = FIFO<Command>()
    private var inFlight = FIFO<Command>()
    private var started = false
    private var closed = false
    /// Whether the current link got ready, the delay before the next attempt, why the last one failed.
    private var health: LinkHealth
    private var reconnectItem: DispatchWorkItem?
    private var ticker: DispatchSourceTimer?
    /// Why there is no connection, for commands that give up waiting for one.
    /// Completions and events of this turn on the loop, handed to `callbackQueue` together.
    private var outbox = CallbackOutbox()

    /// Call `start()` to connect. `onEvent` hears of connects, drops and failed attempts.
    public init(configuration: RedisConfiguration, loop: EventLoop, callbackQueue: DispatchQueue,
                onEvent: (@Sendable (RedisConnectionEvent) -> Void)? = nil) {
        self.configuration = configuration
        self.loop = loop
        self.callbackQueue = callbackQueue
        self.onEvent = onEvent
        health = LinkHealth(backoff: Backoff(initialMs: configuration.reconnectInitialDelayMs, maxMs: configuration.reconnectMaxDelayMs))
    }

    /// Connects (and keeps reconnecting until `close()`). Commands sent before wait for it.
    public func start() {
        loop.execute { [self] in
            guard !started, !closed else { return }
            started = true
            connectNow()
        }
    }

    /// Closes the connection; commands not yet answered fail with `closed`, as do later ones.
    public func close() {
        submissions.withLock { $0.closed = true }
        loop.execute { [self] in closeOnLoop() }
    }

    // MARK: Sending

    /// Sends a command (`["SET", "k", "v"]`); `completion` gets the reply. `timeoutMs`
    /// overrides the configuration's (give blocking commands more than they block for).
    public func send(_ arguments: [String], timeoutMs: Int? = nil, completion: @escaping RedisCompletion) {
        submit(RESPRequest.encode(arguments), timeoutMs: timeoutMs, completion: completion)
    }

    /// Binary arguments.
    public func send(bytes arguments: [[UInt8]], timeoutMs: Int? = nil, completion: @escaping RedisCompletion) {
        submit(RESPRequest.encode(arguments), timeoutMs: timeoutMs, completion: completion)
    }

    public func send(_ arguments: [String], timeoutMs: Int? = nil) async throws -> RESPValue {
        try await withCheckedThrowingContinuation { continuation in
            send(arguments, timeoutMs: timeoutMs) { continuation.resume(with: $0) }
        }
    }

    public func send(bytes arguments: [[UInt8]], timeoutMs: Int? = nil) async throws -> RESPValue {
        try await withCheckedThrowingContinuation { continuation in
            send(bytes: arguments, timeoutMs: timeoutMs) { continuation.resume(with: $0) }
        }
    }

    /// `TIME`: the Redis server's clock, the cluster's reference.
    public func time(timeoutMs: Int? = nil, completion: @escaping @Sendable (Result<RedisTime, RedisError>) -> Void) {
        send(["TIME"], timeoutMs: timeoutMs) { result in
            completion(result.flatMap { reply in
                RedisTime(reply: reply).map { .success($0) } ?? .failure(.unexpectedReply("TIME answered \(reply)"))
            })
        }
    }

    public func time(timeoutMs: Int? = nil) async throws -> RedisTime {
        try await withCheckedThrowingContinuation { continuation in
            time(timeoutMs: timeoutMs) { continuation.resume(with: $0) }
        }
    }

    private func submit(_ bytes: [UInt8], timeoutMs: Int?, completion: @escaping RedisCompletion) {
        let ms = max(1, timeoutMs ?? configuration.commandTimeoutMs)
        let command = Command(bytes: bytes, timeoutMs: ms,
                              deadline: DispatchTime.now().uptimeNanoseconds + UInt64(ms) * 1_000_000,
                              completion: completion)
        let (accepted, schedule) = submissions.withLock { s -> (Bool, Bool) in
            if s.closed { return (false, false) }
            s.items.append(command)
            if s.scheduled { return (true, false) }
            s.scheduled = true
            return (true, true)
        }
        if !accepted {
            callbackQueue.async { completion(.failure(.closed)) }
        } else if schedule {
            // Always a later turn, even on the loop: what is sent in this turn goes in one write.
            loop.queue.async { [self] in drainSubmissions() }
        }
    }

    private func drainSubmissions() {
        let items = submissions.withLock { s -> [Command] in
            let items = s.items
            s.items = []
            s.scheduled = false
            return items
        }
        if closed {
            for c in items { finish(c, .failure(.closed)) }
        } else if let link, link.isReady {
            var bytes: [UInt8] = []
            for c in items {
                bytes.append(contentsOf: c.bytes)
                inFlight.append(c)
            }
            link.write(bytes)
        } else {
            for c in items {
                if waiting.count >= configuration.maxWaitingCommands {
                    finish(c, .failure(.queueFull))
                } else {
                    waiting.append(c)
                }
            }
        }
        updateTicker()
        flushOutbox()
    }

    // MARK: Connecting

    private func connectNow() {
        reconnectItem = nil
        guard !closed, link == nil else { return }
        let l = RESPLink(loop: loop, url: configuration.url, connectTimeoutMs: configuration.connectTimeoutMs,
                         limits: configuration.limits, select: true)
        l.delegate = self
        link = l
        health.wasReady = false
        l.start()   // may call back at once (a refused connect, or no login to wait for)
    }

    private func scheduleReconnect() {
        guard !closed, reconnectItem == nil else { return }
        let item = DispatchWorkItem { [weak self] in self?.connectNow() }
        reconnectItem = item
        loop.queue.asyncAfter(deadline: .now() + .milliseconds(health.backoff.next()), execute: item)
    }

    /// The link is gone: what was written fails with `error`, what waits stays for the next one.
    private func linkLost(_ error: RedisError) {
        link = nil
        for c in inFlight.removeAll() { finish(c, .failure(error)) }
        if case .handshakeFailed = error {
            // A wrong password stays wrong: say so now rather than at each command's deadline.
            for c in waiting.removeAll() { finish(c, .failure(error)) }
        }
        emit(health.lost(error) ? .disconnected(error) : .connectFailed(error))
        scheduleReconnect()
        updateTicker()
        flushOutbox()
    }

    private func closeOnLoop() {
        guard !closed else { return }
        closed = true
        reconnectItem?.cancel()
        reconnectItem = nil
        ticker?.cancel()
        ticker = nil
        link?.close()
        link = nil
        for c in inFlight.removeAll() { finish(c, .failure(.closed)) }
        for c in waiting.removeAll() { finish(c, .failure(.closed)) }
        drainSubmissions()   // fails what was submitted meanwhile, and flushes
    }

    // MARK: Timeouts

    /// Ticks while commands are pending, every tenth of the command timeout (5...100 ms).
    private func updateTicker() {
        let pending = waiting.count + inFlight.count
        depth.withLock { $0 = pending }
        let busy = pending > 0
        if busy, ticker == nil, !closed {
            let ms = min(100, max(5, configuration.commandTimeoutMs / 10))
            let t = DispatchSource.makeTimerSource(queue: loop.queue)
            t.schedule(deadline: .now() + .milliseconds(ms), repeating: .milliseconds(ms), leeway: .milliseconds(ms / 4))
            t.setEventHandler { [weak self] in self?.tick() }
            t.resume()
            ticker = t
        } else if !busy, let t = ticker {
            t.cancel()
            ticker = nil
        }
    }

    private func tick() {
        guard !closed else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        for c in waiting.remove(where: { $0.deadline <= now }) {
            finish(c, .failure(.notConnected(health.lastFailure)))
        }
        if inFlight.contains(where: { $0.deadline <= now }) {
            // Replies come in order: the ones behind a stuck command cannot arrive before it.
            let late = inFlight.first(where: { $0.deadline <= now })
            for c in inFlight.removeAll() {
                finish(c, .failure(c.deadline <= now
                    ? .timedOut(ms: c.timeoutMs)
                    : .connectionLost("reset because an earlier command got no reply within its timeout")))
            }
            link?.close()
            link = nil
            emit(.disconnected(.timedOut(ms: late?.timeoutMs ?? configuration.commandTimeoutMs)))
            health.wasReady = false
            health.lastFailure = "the last connection was reset after a command timed out"
            scheduleReconnect()
        }
        updateTicker()
        flushOutbox()
    }

    // MARK: Delivery

    private func finish(_ c: Command, _ result: Result<RESPValue, RedisError>) {
        let completion = c.completion
        outbox.append { completion(result) }
    }

    private func emit(_ event: RedisConnectionEvent) {
        guard let onEvent else { return }
        outbox.append { onEvent(event) }
    }

    private func flushOutbox() { outbox.flush(on: callbackQueue) }
}

extension RedisConnection: RESPLinkDelegate {
    func linkReady(_ l: RESPLink) {
        guard l === link else { return }
        health.ready()
        emit(.connected)
        if !waiting.isEmpty {
            var bytes: [UInt8] = []
            for c in waiting.removeAll() {
                bytes.append(contentsOf: c.bytes)
                inFlight.append(c)
            }
            l.write(bytes)
        }
        updateTicker()
        flushOutbox()
    }

    func link(_ l: RESPLink, received values: [RESPValue]) {
        guard l === link else { return }
        for v in values {
            guard let c = inFlight.popFirst() else {
                l.close()
                linkLost(.protocolError("a reply came with no command waiting for it: \(v)"))
                return
            }
            if case .error(let message) = v {
                finish(c, .failure(.server(message)))
            } else {
                finish(c, .success(v))
            }
        }
        updateTicker()
        flushOutbox()
    }

    func link(_ l: RESPLink, closedWith error: RedisError) {
        guard l === link else { return }
        linkLost(error)
    }
}
