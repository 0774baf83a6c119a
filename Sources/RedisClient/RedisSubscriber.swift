// The subscriber connection. A connection in SUBSCRIBE mode takes only (P)SUBSCRIBE,
// (P)UNSUBSCRIBE and PING, so commands need the other connection (RedisConnection).
//
// The subscriber keeps the set of channels and patterns its owner wants, not just what the
// server confirmed: after a reconnect it subscribes to all of them again and then says
// `.ready(afterReconnect: true)`. Redis pub/sub holds nothing for a subscriber that was away,
// so that event is the owner's cue to read the latest state from its keys before trusting the
// channel again. A PING every `subscriberPingIntervalMs` notices a link that died silently.
import Dispatch
import NetServer
import RESPCodec

public enum RedisSubscriberEvent: Sendable, Equatable {
    case message(channel: String, payload: [UInt8])
    case patternMessage(pattern: String, channel: String, payload: [UInt8])
    /// Connected, and every channel and pattern wanted so far is subscribed. With
    /// `afterReconnect`, messages published while the subscriber was away are lost.
    case ready(afterReconnect: Bool)
    /// The connection dropped (or its PING went unanswered); reconnecting.
    case disconnected(RedisError)
    /// An attempt to connect failed; retrying after a delay.
    case connectFailed(RedisError)
}

public typealias RedisSubscribeCompletion = @Sendable (Result<Void, RedisError>) -> Void

/// Channel and pattern subscriptions on their own connection, kept across reconnects.
/// Events and completions run on `callbackQueue`, in order. Call `close()` when done.
///
/// Owned by `loop.queue`: every mutable property is touched only there.
public final class RedisSubscriber: @unchecked Sendable {
    public let configuration: RedisConfiguration
    public let loop: EventLoop
    private let callbackQueue: DispatchQueue
    private let handler: @Sendable (RedisSubscriberEvent) -> Void

    private enum Kind: String { case subscribe, unsubscribe, psubscribe, punsubscribe, ping = "pong" }

    /// A command whose confirmations are awaited: one per name (`remaining`), one for PING.
    private struct Request {
        let kind: Kind
        let names: [String]
        var remaining: Int
        let deadline: UInt64
        let timeoutMs: Int
        let completion: RedisSubscribeCompletion?
    }

    /// A subscribe that waits for the next connection's resubscription.
    private struct Deferred {
        let deadline: UInt64
        let timeoutMs: Int
        let completion: RedisSubscribeCompletion
    }

    private var channels = Set<String>()
    private var patterns = Set<String>()
    private var link: RESPLink?
    /// Resubscribed after the link came up: messages can be trusted from here on.
    private var live = false
    private var everLive = false
    /// Requests sent for the resubscription that are not yet confirmed.
    private var resubscribing = 0
    private var requests = FIFO<Request>()
    private var deferred: [Deferred] = []
    private var nextPingAt: UInt64 = 0
    private var started = false
    private var closed = false
    /// Whether the current link got ready, the delay before the next attempt, why the last one failed.
    private var health: LinkHealth
    private var reconnectItem: DispatchWorkItem?
    private var ticker: DispatchSourceTimer?
    private var outbox = CallbackOutbox()

    public init(configuration: RedisConfiguration, loop: EventLoop, callbackQueue: DispatchQueue,
                handler: @escaping @Sendable (RedisSubscriberEvent) -> Void) {
        self.configuration = configuration
        self.loop = loop
        self.callbackQueue = callbackQueue
        self.handler = handler
        health = LinkHealth(backoff: Backoff(initialMs: configuration.reconnectInitialDelayMs, maxMs: configuration.reconnectMaxDelayMs))
    }

    public func start() {
        loop.execute { [self] in
            guard !started, !closed else { return }
            started = true
            let ms = min(100, max(5, configuration.commandTimeoutMs / 10))
            let t = DispatchSource.makeTimerSource(queue: loop.queue)
            t.schedule(deadline: .now() + .milliseconds(ms), repeating: .milliseconds(ms), leeway: .milliseconds(ms / 4))
            t.setEventHandler { [weak self] in self?.tick() }
            t.resume()
            ticker = t
            connectNow()
        }
    }

    public func close() {
        loop.execute { [self] in
            guard !closed else { return }
            closed = true
            reconnectItem?.cancel()
            reconnectItem = nil
            ticker?.cancel()
            ticker = nil
            link?.close()
            link = nil
            for r in requests.removeAll() { if let c = r.completion { complete(c, .failure(.closed)) } }
            for d in deferred { complete(d.completion, .failure(.closed)) }
            deferred = []
            flushOutbox()
        }
    }

    // MARK: Subscriptions

    /// Subscribes to channels; `completion` runs once the server confirmed all of them (after
    /// a reconnect if need be), or fails at the command timeout. They stay wanted either way
    /// until unsubscribed (unless the server refused them: NOPERM). `timeoutMs` overrides the
    /// configuration's command timeout for this completion.
    public func subscribe(_ channels: [String], timeoutMs: Int? = nil, completion: RedisSubscribeCompletion? = nil) {
        change(.subscribe, channels, timeoutMs, completion)
    }

    /// Unsubscribes; no message of these channels is delivered after this call returns to
    /// the loop, whatever the server still sends.
    public func unsubscribe(_ channels: [String], completion: RedisSubscribeCompletion? = nil) {
        change(.unsubscribe, channels, nil, completion)
    }

    /// Subscribes to glob patterns (`class:*`): `.patternMessage` events.
    public func psubscribe(_ patterns: [String], timeoutMs: Int? = nil, completion: RedisSubscribeCompletion? = nil) {
        change(.psubscribe, patterns, timeoutMs, completion)
    }

    public func punsubscribe(_ patterns: [String], completion: RedisSubscribeCompletion? = nil) {
        change(.punsubscribe, patterns, nil, completion)
    }

    public func subscribe(_ channels: [String], timeoutMs: Int? = nil) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            subscribe(channels, timeoutMs: timeoutMs) { c.resume(with: $0) }
        }
    }

    public func unsubscribe(_ channels: [String]) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            unsubscribe(channels) { c.resume(with: $0) }
        }
    }

    public func psubscribe(_ patterns: [String], timeoutMs: Int? = nil) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            psubscribe(patterns, timeoutMs: timeoutMs) { c.resume(with: $0) }
        }
    }

    private func change(_ kind: Kind, _ names: [String], _ timeoutMs: Int?, _ completion: RedisSubscribeCompletion?) {
        let ms = max(1, timeoutMs ?? configuration.commandTimeoutMs)
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(ms) * 1_000_000
        loop.execute { [self] in
            if closed {
                if let completion { complete(completion, .failure(.closed)) }
                flushOutbox()
                return
            }
            var send: [String] = []
            for name in Set(names) {
                switch kind {
                case .subscribe: if channels.insert(name).inserted { send.append(name) }
                case .psubscribe: if patterns.insert(name).inserted { send.append(name) }
                case .unsubscribe: if channels.remove(name) != nil { send.append(name) }
                case .punsubscribe: if patterns.remove(name) != nil { send.append(name) }
                case .ping: break
                }
            }
            let adding = kind == .subscribe || kind == .psubscribe
            if let link, link.isReady, !send.isEmpty {
                sendRequest(Request(kind: kind, names: send, remaining: send.count, deadline: deadline, timeoutMs: ms, completion: completion), on: link)
            } else if let completion {
                if adding && !live {
                    // Confirmed when the next connection has resubscribed everything.
                    deferred.append(Deferred(deadline: deadline, timeoutMs: ms, completion: completion))
                } else {
                    // Already subscribed (or not), or no connection to unsubscribe on.
                    complete(completion, .success(()))
                }
            }
            flushOutbox()
        }
    }

    private func sendRequest(_ request: Request, on link: RESPLink) {
        requests.append(request)
        let command = request.kind == .ping ? "PING" : request.kind.rawValue.uppercased()
        link.write(RESPRequest.encode([command] + request.names))
    }

    // MARK: Connecting

    private func connectNow() {
        reconnectItem = nil
        guard !closed, link == nil else { return }
        let l = RESPLink(loop: loop, url: configuration.url, connectTimeoutMs: configuration.connectTimeoutMs,
                         limits: configuration.limits, select: false)
        l.delegate = self
        link = l
        health.wasReady = false
        live = false
        l.start()
    }

    private func scheduleReconnect() {
        guard !closed, reconnectItem == nil else { return }
        let item = DispatchWorkItem { [weak self] in self?.connectNow() }
        reconnectItem = item
        loop.queue.asyncAfter(deadline: .now() + .milliseconds(health.backoff.next()), execute: item)
    }

    /// Resubscribes everything on a fresh link; `.ready` follows the confirmations.
    private func resubscribe(on l: RESPLink) {
        let ms = configuration.commandTimeoutMs
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(ms) * 1_000_000
        resubscribing = 0
        if !channels.isEmpty {
            let names = channels.sorted()
            sendRequest(Request(kind: .subscribe, names: names, remaining: names.count, deadline: deadline, timeoutMs: ms, completion: nil), on: l)
            resubscribing += 1
        }
        if !patterns.isEmpty {
            let names = patterns.sorted()
            sendRequest(Request(kind: .psubscribe, names: names, remaining: names.count, deadline: deadline, timeoutMs: ms, completion: nil), on: l)
            resubscribing += 1
        }
        if resubscribing == 0 { becomeLive() }
    }

    private func becomeLive() {
        live = true
        let again = everLive
        everLive = true
        for d in deferred { complete(d.completion, .success(())) }
        deferred = []
        nextPingAt = DispatchTime.now().uptimeNanoseconds + UInt64(configuration.subscriberPingIntervalMs) * 1_000_000
        emit(.ready(afterReconnect: again))
    }

    /// The link is gone (or reset): pending subscribes wait for the next one, unsubscribes are
    /// done (a closed connection holds no subscription), and a reconnect is scheduled.
    private func linkLost(_ error: RedisError, timedOutBefore now: UInt64? = nil) {
        link?.close()
        link = nil
        live = false
        resubscribing = 0
        for r in requests.removeAll() {
            guard let c = r.completion else { continue }
            switch r.kind {
            case .subscribe, .psubscribe:
                if let now, r.deadline <= now {
                    complete(c, .failure(.timedOut(ms: r.timeoutMs)))
                } else {
                    deferred.append(Deferred(deadline: r.deadline, timeoutMs: r.timeoutMs, completion: c))
                }
            case .unsubscribe, .punsubscribe, .ping:
                complete(c, .success(()))
            }
        }
        if case .handshakeFailed = error {
            for d in deferred { complete(d.completion, .failure(error)) }
            deferred = []
        }
        emit(health.lost(error) ? .disconnected(error) : .connectFailed(error))
        scheduleReconnect()
        flushOutbox()
    }

    // MARK: Timeouts and PING

    private func tick() {
        guard !closed else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        if link != nil, let late = requests.first(where: { $0.deadline <= now }) {
            linkLost(.timedOut(ms: late.timeoutMs), timedOutBefore: now)
        }
        if !deferred.isEmpty {
            var kept: [Deferred] = []
            // Connected but not confirmed: the SUBSCRIBE went out and got no answer.
            let sent = link?.isReady == true
            for d in deferred {
                if d.deadline <= now {
                    complete(d.completion, .failure(sent ? .timedOut(ms: d.timeoutMs) : .notConnected(health.lastFailure)))
                } else {
                    kept.append(d)
                }
            }
            deferred = kept
        }
        // Also behind a pending (long-timeout) SUBSCRIBE: its answer comes first, and a dead
        // link is noticed at the PING's timeout rather than at the SUBSCRIBE's.
        if live, let link, now >= nextPingAt, !requests.contains(where: { $0.kind == .ping }) {
            nextPingAt = now + UInt64(configuration.subscriberPingIntervalMs) * 1_000_000
            sendRequest(Request(kind: .ping, names: [], remaining: 1, deadline: now + UInt64(configuration.commandTimeoutMs) * 1_000_000,
                                timeoutMs: configuration.commandTimeoutMs, completion: nil), on: link)
        }
        flushOutbox()
    }

    // MARK: Replies

    /// Handles one reply; returns an error that breaks the connection.
    private func handle(_ value: RESPValue) -> RedisError? {
        if case .simpleString(let s) = value, s.uppercased() == "PONG" {
            // PING with no subscription at all.
            return confirm(.ping, value)
        }
        if case .error(let message) = value {
            guard let r = requests.popFirst() else { return .protocolError("an error reply with no command waiting: \(message)") }
            // The whole command was refused (NOPERM): none of its names is subscribed.
            if r.kind == .subscribe { for n in r.names { channels.remove(n) } }
            if r.kind == .psubscribe { for n in r.names { patterns.remove(n) } }
            if let c = r.completion { complete(c, .failure(.server(message))) }
            if r.completion == nil, r.kind == .subscribe || r.kind == .psubscribe { resubscribed() }
            return nil
        }
        guard let items = value.array, let kind = items.first?.string?.lowercased() else {
            return .protocolError("unexpected reply on the subscriber connection: \(value)")
        }
        switch kind {
        case "message":
            guard items.count == 3, let channel = items[1].string, let payload = items[2].bytes else { break }
            if channels.contains(channel) { emit(.message(channel: channel, payload: payload)) }
            return nil
        case "pmessage":
            guard items.count == 4, let pattern = items[1].string, let channel = items[2].string, let payload = items[3].bytes else { break }
            if patterns.contains(pattern) { emit(.patternMessage(pattern: pattern, channel: channel, payload: payload)) }
            return nil
        default:
            if let k = Kind(rawValue: kind) { return confirm(k, value) }
        }
        return .protocolError("unexpected reply on the subscriber connection: \(value)")
    }

    private func confirm(_ kind: Kind, _ value: RESPValue) -> RedisError? {
        guard let head = requests.first, head.kind == kind else {
            return .protocolError("a \(kind.rawValue) confirmation that no command asked for: \(value)")
        }
        let remaining = requests.withFirst { r -> Int in
            r.remaining -= 1
            return r.remaining
        }
        if remaining ?? 0 > 0 { return nil }
        let r = requests.popFirst()!
        if let c = r.completion { complete(c, .success(())) } else if kind != .ping { resubscribed() }
        return nil
    }

    private func resubscribed() {
        resubscribing -= 1
        if resubscribing == 0 && !live { becomeLive() }
    }

    // MARK: Delivery

    private func complete(_ c: @escaping RedisSubscribeCompletion, _ result: Result<Void, RedisError>) {
        outbox.append { c(result) }
    }

    private func emit(_ event: RedisSubscriberEvent) {
        let handler = self.handler
        outbox.append { handler(event) }
    }

    private func flushOutbox() { outbox.flush(on: callbackQueue) }
}

extension RedisSubscriber: RESPLinkDelegate {
    func linkReady(_ l: RESPLink) {
        guard l === link else { return }
        health.ready()
        resubscribe(on: l)
        flushOutbox()
    }

    func link(_ l: RESPLink, received values: [RESPValue]) {
        guard l === link else { return }
        for v in values {
            if let error = handle(v) {
                linkLost(error)
                return
            }
        }
        flushOutbox()
    }

    func link(_ l: RESPLink, closedWith error: RedisError) {
        guard l === link else { return }
        linkLost(error)
    }
}
