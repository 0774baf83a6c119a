// One node of a cluster of `classctl serve --redis` processes (docs/cluster.md).
//
// Every node has a relay (LiveClass.ClassRelay) for every open class, which its phones join;
// the node holding a class's lease also runs the class (a ClassSession whose members are
// phones anywhere, reached through Redis). Relays send their phones' messages up on the
// class's `in` channel; the owner sends each change down once on its `out` channel, and
// every relay fans it out to its own phones. The recording is a Redis stream written through
// the fence, before anyone is told of the change.
import Dispatch
import Foundation
import Logging
import NetServer
import RESPCodec
import RedisClient
import ClassPlan
import ClassEngine
import LiveClass
import TLS

public struct ClusterOptions: Sendable {
    /// The lease's time to live; renewed every `tickMs`.
    public var leaseTTLMs = 3_000
    public var tickMs = 1_000
    /// Ticks with the lease absent before a node that did not run the class takes it.
    public var graceChecks = 2
    /// Redis command timeout (a command, an event's append).
    public var commandTimeoutMs = 1_000
    /// How long a finished class stays open.
    public var finishedGraceMs: Int64 = 10 * 60_000
    /// Warn when this node's clock is further than this from Redis's.
    public var clockWarnMs: Int64 = 50
    public var clockCheckEveryMs = 60_000
    /// Tests only: the class queue of a class run here is held this long after each join, as
    /// if welcoming a crowd (the control loop must keep the lease meanwhile).
    public var testJoinStallMs = 0
    /// Tests only: `shutdown` waits this long between letting its classes go and closing its
    /// connections, long enough for its own "release" to come back to it from Redis.
    public var testShutdownStallMs = 0
    /// Tests only: each write of a class's event waits this long before it is sent.
    public var testAppendStallMs = 0
    public init() {}
}

/// Owned by `control` (entries, ticks; `node` and `subscriber` are set once in `start`, before
/// anything else runs); the tables the subscriber's queue reads (`relays`, `owners`) and the
/// metrics are behind their locks.
public final class ClusterNode: ClassOpener, @unchecked Sendable {
    public let configuration: RedisConfiguration
    public let options: ClusterOptions
    public private(set) var node: UInt64 = 0
    let server: Server
    let classes: ClassServer
    let leadMs: Int64
    let logger: Logger
    private let loop: EventLoop
    private let replies = DispatchQueue(label: "classctl.cluster.replies")
    private let events = DispatchQueue(label: "classctl.cluster.events")
    private let control = DispatchQueue(label: "classctl.cluster.control")
    /// The class traffic: relays' PUBLISHes up, owners' PUBLISHes down, the recordings' appends.
    /// Under a crowd joining it carries tens of thousands of commands in a few seconds.
    private let store: RedisStore
    /// The control loop's own connection, on its own loop and reply queue: lease renewals and
    /// heartbeats never wait behind the class traffic (a crowd joining puts thousands of
    /// commands in that pipeline and thousands of completions on its reply queue).
    private let controlStore: RedisStore
    private let controlLoop: EventLoop
    private let controlReplies = DispatchQueue(label: "classctl.cluster.control-replies")
    private var subscriber: RedisSubscriber!
    private var ticker: DispatchSourceTimer?

    /// One open class as this node sees it. On `control`.
    private struct Entry {
        let relay: ClassRelay
        var lease: LeaseTracker
        var owner: Owner?
        /// A write of the class run here got no answer: reload it once Redis answers again.
        var reloadPending = false
    }
    private var entries: [String: Entry] = [:]
    private let relays = Locked<[String: ClassRelay]>([:])
    private let owners = Locked<[String: Owner]>([:])
    private var ticks = 0
    /// Set by `shutdown`: from then on this node takes no lease, not even back from its own
    /// "release" (which reaches its subscriber too) or a tick that was already queued.
    private var stopping = false
    private var lastClockCheck: Int64 = 0
    private let redisWasDown = Locked(false)
    /// For /metrics (read on a loop, so behind a lock): takeovers here, classes run here, the
    /// last clock offset to Redis.
    private let stats = Locked<(takeovers: Int, running: Int, clockOffsetMicros: Int64)>((0, 0, 0))

    public init(url: String, options: ClusterOptions = ClusterOptions(), server: Server, classes: ClassServer,
                leadMs: Int64, logger: Logger) throws {
        var configuration = try RedisConfiguration(url: url)
        configuration.commandTimeoutMs = options.commandTimeoutMs
        configuration.connectTimeoutMs = 1_000
        configuration.reconnectMaxDelayMs = 1_000
        configuration.subscriberPingIntervalMs = 2_000
        self.configuration = configuration
        self.options = options
        self.server = server
        self.classes = classes
        self.leadMs = leadMs
        self.logger = logger
        loop = EventLoop.standalone()
        let upFlag = Locked(false)   // the connection's events keep it; the store reads it
        let wasDown = redisWasDown
        let where_ = configuration.url
        let connection = RedisConnection(configuration: configuration, loop: loop, callbackQueue: replies) { [logger] event in
            switch event {
            case .connected:
                upFlag.withLock { $0 = true }
                if wasDown.withLock({ $0 }) { logger.notice("cluster: Redis is back (\(where_))") }
                wasDown.withLock { $0 = false }
            case .disconnected(let e), .connectFailed(let e):
                upFlag.withLock { $0 = false }
                if !wasDown.withLock({ $0 }) {
                    logger.error("cluster: Redis is unreachable (\(e)); phones follow the plan, commands are refused until it is back")
                }
                wasDown.withLock { $0 = true }
            }
        }
        store = RedisStore(connection: connection, up: upFlag, timeoutMs: options.commandTimeoutMs)
        controlLoop = EventLoop.standalone()
        let controlUp = Locked(false)
        let controlWasDown = Locked(false)
        let controlConnection = RedisConnection(configuration: configuration, loop: controlLoop, callbackQueue: controlReplies) { [logger] event in
            switch event {
            case .connected:
                controlUp.withLock { $0 = true }
                if controlWasDown.withLock({ $0 }) { logger.notice("cluster: the lease connection to Redis is back") }
                controlWasDown.withLock { $0 = false }
            case .disconnected(let e), .connectFailed(let e):
                controlUp.withLock { $0 = false }
                if !controlWasDown.withLock({ $0 }) {
                    logger.warning("cluster: the lease connection to Redis dropped (\(e)); leases and heartbeats wait for it")
                }
                controlWasDown.withLock { $0 = true }
            }
        }
        controlStore = RedisStore(connection: controlConnection, up: controlUp, timeoutMs: options.commandTimeoutMs)
    }

    // MARK: Starting and stopping

    /// Connects, takes a node number, subscribes, loads the open classes and starts the lease
    /// loop. Throws when Redis cannot be reached within `waitSeconds`.
    public func start(waitSeconds: Double = 10) throws {
        store.connection.start()
        controlStore.connection.start()
        let deadline = Date().addingTimeInterval(waitSeconds)
        while !store.isUp || !controlStore.isUp {
            guard Date() < deadline else { throw ClusterError("cannot reach Redis at \(configuration.url) within \(Int(waitSeconds)) s") }
            Thread.sleep(forTimeInterval: 0.02)
        }
        guard case .success(let n) = controlStore.call(["INCR", ClusterKeys.nodes]), let number = n.int else {
            throw ClusterError("cannot take a node number from Redis at \(configuration.url)")
        }
        node = (UInt64(number) - 1) % MemberID.maxNode + 1
        beat()   // before any phone: an owner drops the phones of a node without a heartbeat
        subscriber = RedisSubscriber(configuration: configuration, loop: loop, callbackQueue: events) { [weak self] e in self?.subscriberEvent(e) }
        subscriber.start()
        let subscribed = DispatchSemaphore(value: 0)
        subscriber.subscribe([ClusterKeys.classEvents], timeoutMs: 5_000) { _ in subscribed.signal() }
        subscribed.wait()
        control.sync {
            measureClock()
            refresh()
        }
        let t = DispatchSource.makeTimerSource(queue: control)
        t.schedule(deadline: .now() + .milliseconds(options.tickMs), repeating: .milliseconds(options.tickMs), leeway: .milliseconds(20))
        t.setEventHandler { [weak self] in self?.tick() }
        t.resume()
        ticker = t
        let (nodeNumber, store, controlStore, stats) = (node, store, controlStore, stats)
        classes.addMetrics {
            let s = stats.withLock { $0 }
            func family(_ name: String, _ type: String, _ help: String, _ value: String) -> [String] {
                ["# HELP \(name) \(help)", "# TYPE \(name) \(type)", "\(name) \(value)"]
            }
            return family("classctl_cluster_node", "gauge", "This node's number in the cluster.", String(nodeNumber))
                + family("classctl_cluster_redis_up", "gauge", "1 while this node is connected to Redis (its class and lease connections both).",
                         store.isUp && controlStore.isUp ? "1" : "0")
                + family("classctl_cluster_classes_running_here", "gauge", "Classes whose lease this node holds.", String(s.running))
                + family("classctl_cluster_takeovers_total", "counter", "Classes this node took over from another (or opened).", String(s.takeovers))
                + family("classctl_cluster_clock_offset_seconds", "gauge", "Redis TIME minus this node's clock, last measured.", String(Double(s.clockOffsetMicros) / 1e6))
        }
        logger.info("cluster: node \(node) on \(configuration.url), \(entries.count) open classes")
    }

    /// Lets every class this node runs go at once (another node takes each over without
    /// waiting for the lease to lapse) and closes the connections. Blocks.
    public func shutdown() {
        control.sync {
            stopping = true
            ticker?.cancel()
            ticker = nil
            for code in entries.keys.sorted() { stepDown(code, release: true, why: "this node is stopping") }
        }
        if options.testShutdownStallMs > 0 { Thread.sleep(forTimeInterval: Double(options.testShutdownStallMs) / 1000) }
        subscriber?.close()
        store.connection.close()
        controlStore.connection.close()
    }


    // MARK: Opening a class (a studio's POST /api/classes on this node)

    public func open(plan: ClassPlan, token: String, code wanted: String?) -> Result<Studio.Opened, Studio.OpenError> {
        var code = wanted ?? Studio.randomCode()
        var claimed = false
        for _ in 0..<8 {
            switch store.call(["SADD", ClusterKeys.classes, code]) {
            case .success(let r) where r.int == 1: claimed = true
            case .success: break
            case .failure(let e): return .failure(.failed("cannot open the class: Redis is not reachable (\(e))"))
            }
            if claimed || wanted != nil { break }
            code = Studio.randomCode()
        }
        guard claimed else { return .failure(.failed("a class with the code \(code) is already open")) }
        let steps = Expansion.steps(for: plan)
        let header = RecordingHeader(format: RecordingHeader.currentFormat, classCode: code, startedAt: wallClockMillis(),
                                     plan: plan, steps: steps, instructorTokenHash: TokenHash.make(token))
        let result: Result<Studio.Opened, Studio.OpenError> = control.sync {
            guard !stopping else {
                _ = controlStore.call(["SREM", ClusterKeys.classes, code])
                return .failure(.failed("this node is stopping; open the class on another one"))
            }
            guard case .success(let f) = controlStore.eval(ClusterScripts.acquire, keys: [ClusterKeys.lease(code), ClusterKeys.fence(code)],
                                                           [String(node), String(options.leaseTTLMs)]),
                  let fence = f.int, fence > 0 else {
                return .failure(.failed("cannot take the new class's lease in Redis"))
            }
            do {
                let line = try RedisRecording.line(header)
                if case .failure(let e) = controlStore.eval(ClusterScripts.append, keys: [ClusterKeys.recording(code), ClusterKeys.fence(code)], [String(fence), line]) {
                    throw ClusterError("\(e)")
                }
                let recording = Recording(plan: plan, steps: steps, classCode: code, startedAt: header.startedAt, events: [])
                addRelay(recording)
                entries[code]?.lease.acquired(fence: fence)
                try runClass(code, fence: fence, recording: nil, plan: plan, steps: steps, token: token)
            } catch {
                _ = controlStore.call(["SREM", ClusterKeys.classes, code])
                return .failure(.failed("cannot open the class in Redis: \(error)"))
            }
            controlStore.send([Array("PUBLISH".utf8), Array(ClusterKeys.classEvents.utf8), Array("open \(code)".utf8)])
            return .success(Studio.Opened(code: code, title: plan.title, stepCount: steps.count, token: token,
                                          recording: recordingLocation(code)))
        }
        return result
    }

    private func recordingLocation(_ code: String) -> String { "\(configuration.url)#\(code)" }

    // MARK: The control loop (on `control`)

    private func tick() {
        ticks += 1
        let started = uptimeMillis()
        // A tick that comes late (or takes long) is a lease renewal and a heartbeat that came
        // late: other nodes take a class over after the lease, drop phones after 5 s.
        if lastTickAt > 0, started - lastTickAt > 2 * Double(options.tickMs) {
            logger.warning("cluster: the control loop was held up: \(Int(started - lastTickAt)) ms since its last tick (every \(options.tickMs) ms; the lease is \(options.leaseTTLMs) ms)")
        }
        lastTickAt = started
        // Both connections: a node that cannot publish must not keep its classes.
        guard controlStore.isUp, store.isUp else { redisUpSince = nil; return }
        if redisUpSince == nil { redisUpSince = uptimeMillis() }
        var phases: [(String, Double)] = []
        func timed(_ name: String, _ body: () -> Void) {
            let t0 = uptimeMillis()
            body()
            phases.append((name, uptimeMillis() - t0))
        }
        timed("beat") { beat() }
        if ticks % 5 == 0 { timed("refresh") { refresh() } }
        let now = wallClockMillis()
        if now - lastClockCheck >= Int64(options.clockCheckEveryMs) { timed("clock") { measureClock() } }
        timed("leases") { for code in entries.keys.sorted() { checkLease(code, now: now) } }
        // After an outage every node's heartbeat key has lapsed: wait a heartbeat's lifetime
        // for the others to beat again before calling any of them dead (their phones would
        // be dropped while their relays still hold them).
        if ticks % 3 == 0, uptimeMillis() - (redisUpSince ?? .infinity) >= Double(heartbeatTTLMs) {
            timed("dead nodes") { dropMembersOfDeadNodes() }
        }
        let took = uptimeMillis() - started
        if took > Double(options.tickMs) / 2 {
            let parts = phases.map { "\($0.0) \(Int($0.1)) ms" }.joined(separator: ", ")
            logger.warning("cluster: a control tick took \(Int(took)) ms (\(parts)); Redis commands pending on the class connection: \(store.connection.pendingCommands)")
        }
    }
    private var lastTickAt: Double = 0

    /// Since when (uptime ms) both connections have been up without a break. On `control`.
    private var redisUpSince: Double?
    private var heartbeatTTLMs: Int { max(5_000, options.leaseTTLMs + 2 * options.tickMs) }

    private func beat() {
        controlStore.send([Array("SET".utf8), Array(ClusterKeys.node(node).utf8), Array("1".utf8), Array("PX".utf8),
                    Array(String(heartbeatTTLMs).utf8)])
    }

    private func checkLease(_ code: String, now: Int64) {
        guard var entry = entries[code] else { return }
        if let value = entry.lease.leaseValue(node: node) {
            let answer: Bool?
            let t0 = uptimeMillis()
            defer {
                let took = uptimeMillis() - t0
                if took > Double(options.tickMs) / 2 { logger.warning("cluster: class \(code): checking the lease (and what followed) took \(Int(took)) ms") }
            }
            switch controlStore.eval(ClusterScripts.renew, keys: [ClusterKeys.lease(code), ClusterKeys.fence(code)],
                              [value, String(options.leaseTTLMs), String(entry.lease.fence ?? 0)]) {
            case .success(let r):
                answer = r.int == 1 || r.int == 2
                if r.int == 2 { logger.notice("cluster: class \(code): its lease lapsed while Redis was away; nobody took it, so this node goes on running it") }
            case .failure: answer = nil
            }
            if entry.lease.renewal(answer) == .stepDown {
                entries[code] = entry
                stepDown(code, release: false, why: "its lease lapsed or another node holds it")
                entry = entries[code] ?? entry
                // This node ran it: it takes it back at once if nobody else did.
                if entry.lease.ranLast { tryAcquire(code) }
                return
            }
            entries[code] = entry
            if answer == true, entry.reloadPending, entry.owner != nil {
                reload(code)
                return
            }
            if let owner = entry.owner, let finished = owner.session.publicView.snapshot.finishedAt,
               now - finished >= options.finishedGraceMs {
                close(code)
            }
            return
        }
        let holder: String?
        switch controlStore.call(["GET", ClusterKeys.lease(code)]) {
        case .success(let r): holder = r.string
        case .failure: return
        }
        let decision = entry.lease.observed(holder: holder, node: node)
        entries[code] = entry
        if decision == .acquire { tryAcquire(code) }
    }

    private func tryAcquire(_ code: String) {
        guard !stopping, entries[code] != nil else { return }
        guard case .success(let f) = controlStore.eval(ClusterScripts.acquire, keys: [ClusterKeys.lease(code), ClusterKeys.fence(code)],
                                                       [String(node), String(options.leaseTTLMs)]),
              let fence = f.int, fence > 0 else { return }
        entries[code]?.lease.acquired(fence: fence)
        do {
            let recording = try RedisRecording.read(controlStore, code: code, name: recordingLocation(code))
            try runClass(code, fence: fence, recording: recording, plan: recording.plan, steps: recording.steps, token: nil)
        } catch {
            logger.error("cluster: class \(code): cannot take it over: \(error); letting the lease go")
            entries[code]?.lease.released()
            _ = controlStore.eval(ClusterScripts.release, keys: [ClusterKeys.lease(code)], ["\(node):\(fence)"])
        }
    }

    /// Runs the class here under `fence`: a new one (`recording` nil, its header already
    /// stored) or one taken over from its stream (Resume.rebuild, as after a crash).
    private func runClass(_ code: String, fence: Int64, recording: Recording?, plan: ClassPlan, steps: [Step], token: String?) throws {
        let out = OutChannel(store: store, channel: ClusterKeys.outbound(code))
        let sink = RedisStreamSink(store: store, code: code, fence: fence, location: recordingLocation(code),
                                   testStallMs: options.testAppendStallMs,
                                   onFenced: { [weak self] in
                                       guard let self else { return }
                                       self.control.async { self.fenced(code, fence: fence) }
                                   },
                                   onUncertain: { [weak self] in
                                       guard let self else { return }
                                       self.control.async { self.writeUncertain(code, fence: fence) }
                                   })
        let session = try ClassSession(code: code, plan: plan, steps: steps, instructorToken: token, server: server, leadMs: leadMs,
                                       recording: .sink(sink, resuming: recording), logger: logger, fanout: RedisFanout(out: out))
        let owner = Owner(session: session, fence: fence, out: out, joinStallMs: options.testJoinStallMs)
        entries[code]?.owner = owner
        stats.withLock { $0.takeovers += 1; $0.running = entries.values.filter { $0.owner != nil }.count }
        owners.withLock { $0[code] = owner }
        let subscribed = DispatchSemaphore(value: 0)
        subscriber.subscribe([ClusterKeys.inbound(code)], timeoutMs: options.commandTimeoutMs * 2) { _ in subscribed.signal() }
        subscribed.wait()
        // Relays announce their phones to the new owner, then everyone gets the state.
        out.publish(.owner(node: node, fence: fence))
        session.resync()
        let at = session.publicView.snapshot
        logger.notice("cluster: class \(code): this node runs it now (fence \(fence)\(recording == nil ? ", new class" : ", taken over at \(at.status.rawValue) step \(at.stepIndex.map { String($0 + 1) } ?? "-")"))")
    }

    /// A write went out under `fence` and no answer came: the stream may hold an event the
    /// session did not make (the instructor was told it failed). The sink writes nothing more;
    /// the next tick that renews the lease reloads the class.
    private func writeUncertain(_ code: String, fence: Int64) {
        guard entries[code]?.lease.fence == fence, entries[code]?.owner != nil else { return }
        entries[code]?.reloadPending = true
        logger.warning("cluster: class \(code): Redis did not answer a write in time; the class is reloaded from its recording once Redis answers")
    }

    /// Runs the class afresh from its stream, as a take-over would (Resume.rebuild): the stream
    /// is the truth, whatever became of the write that got no answer. The lease is let go
    /// without a word to the other nodes and taken back at once (a new fence).
    private func reload(_ code: String) {
        entries[code]?.reloadPending = false
        stepDown(code, release: true, announce: false, why: "reloading it from its recording after a write got no answer")
        tryAcquire(code)
    }

    private func fenced(_ code: String, fence: Int64) {
        guard entries[code]?.lease.fence == fence else { return }
        _ = entries[code]?.lease.fenced()
        stepDown(code, release: false, why: "a write was refused: another node runs it now")
    }

    /// Stops running the class here; the relay stays (its phones stay connected).
    private func stepDown(_ code: String, release: Bool, announce: Bool = true, why: String) {
        guard var entry = entries[code] else { return }
        if release, let value = entry.lease.leaseValue(node: node) {
            _ = controlStore.eval(ClusterScripts.release, keys: [ClusterKeys.lease(code)], [value])
            entry.lease.released()
            // Another node takes it at once instead of waiting for two ticks.
            if announce { controlStore.send([Array("PUBLISH".utf8), Array(ClusterKeys.classEvents.utf8), Array("release \(code)".utf8)]) }
        }
        if let owner = entry.owner {
            entry.owner = nil
            stats.withLock { $0.running = max(0, $0.running - 1) }
            owners.withLock { _ = $0.removeValue(forKey: code) }
            subscriber.unsubscribe([ClusterKeys.inbound(code)])
            // Not on this queue: the class queue may be seconds behind (its writes are refused by
            // the fence meanwhile), and the control loop must go on renewing the other leases.
            DispatchQueue.global().async { owner.session.detach() }
            logger.notice("cluster: class \(code): this node no longer runs it (\(why))")
        }
        if !release, entry.lease.isOwner { _ = entry.lease.fenced() }
        entries[code] = entry
    }

    /// The class finished its grace: it leaves every node (its stream stays for export).
    private func close(_ code: String) {
        stepDown(code, release: true, why: "finished")
        _ = controlStore.call(["SREM", ClusterKeys.classes, code])
        _ = controlStore.call(["EXPIRE", ClusterKeys.recording(code), String(30 * 86_400)])
        controlStore.send([Array("PUBLISH".utf8), Array(ClusterKeys.classEvents.utf8), Array("close \(code)".utf8)])
        removeRelay(code)
        logger.info("cluster: class \(code) closed \(options.finishedGraceMs / 1000) s after it finished")
    }

    /// The open classes from Redis: a relay for each new one, none for those gone.
    private func refresh() {
        guard case .success(let r) = controlStore.call(["SMEMBERS", ClusterKeys.classes]), let list = r.array else { return }
        let codes = Set(list.compactMap { $0.string })
        for code in codes where entries[code] == nil {
            do {
                addRelay(try RedisRecording.read(controlStore, code: code, name: recordingLocation(code)))
            } catch {
                logger.warning("cluster: class \(code) is listed but cannot be read: \(error)")
            }
        }
        for code in entries.keys where !codes.contains(code) {
            stepDown(code, release: true, why: "it was closed")
            removeRelay(code)
        }
    }

    private func addRelay(_ recording: Recording) {
        let code = recording.classCode
        guard entries[code] == nil else { return }
        let store = self.store
        let inbound = Array(ClusterKeys.inbound(code).utf8)
        let relay = ClassRelay(recording: recording, node: node, server: server) { up, completion in
            guard let completion else {
                store.send([Array("PUBLISH".utf8), inbound, up.encoded()])
                return
            }
            // PUBLISH answers how many subscribers got it: 0 means no node runs the class now.
            store.send([Array("PUBLISH".utf8), inbound, up.encoded()]) { result in
                completion(((try? result.get())?.int ?? 0) > 0)
            }
        }
        entries[code] = Entry(relay: relay, lease: LeaseTracker(graceChecks: options.graceChecks))
        relays.withLock { $0[code] = relay }
        subscriber.subscribe([ClusterKeys.outbound(code)])
        classes.add(relay, isDefault: false)
    }

    private func removeRelay(_ code: String) {
        entries[code] = nil
        relays.withLock { _ = $0.removeValue(forKey: code) }
        subscriber.unsubscribe([ClusterKeys.outbound(code)])
        classes.remove(code: code)
    }

    /// Members whose node stopped beating (killed) leave the classes this node runs.
    /// Never waits for a class queue (a class busy welcoming thousands of phones would hold the
    /// control loop, and with it the leases and the heartbeat): the members' ids come back later.
    private func dropMembersOfDeadNodes() {
        for (code, entry) in entries {
            guard let owner = entry.owner, !askingMembers.contains(code) else { continue }
            askingMembers.insert(code)
            owner.session.memberIDs { [weak self] ids in
                guard let self else { return }
                self.control.async { self.dropMembersOfDeadNodes(code, owner: owner, ids: ids) }
            }
        }
    }
    /// Classes whose members' ids were asked for and have not come back yet. On `control`.
    private var askingMembers = Set<String>()

    private func dropMembersOfDeadNodes(_ code: String, owner: Owner, ids: [UInt64]) {
        askingMembers.remove(code)
        guard entries[code]?.owner === owner else { return }
        let byNode = Dictionary(grouping: ids, by: { MemberID.node(of: $0) })
        for (n, members) in byNode where n != node {
            guard case .success(let r) = controlStore.call(["EXISTS", ClusterKeys.node(n)]), r.int == 0 else { continue }
            logger.notice("cluster: class \(code): node \(n) stopped beating; its \(members.count) phones leave the class (they reconnect elsewhere)")
            for m in members { owner.session.leave(id: m) }
        }
    }

    // MARK: The clock

    /// NTP-style against Redis's TIME: offset from the probe with the smallest round trip.
    private func measureClock() {
        lastClockCheck = wallClockMillis()
        var samples: [ClockSample] = []
        for _ in 0..<5 {
            let t0 = wallClockMicros()
            guard case .success(let r) = controlStore.call(["TIME"]), let time = RedisTime(reply: r) else { continue }
            let t3 = wallClockMicros()
            samples.append(ClockSample(sentMicros: t0, serverMicros: time.totalMicroseconds, receivedMicros: t3))
        }
        guard let best = ClockSample.best(samples) else { return }
        stats.withLock { $0.clockOffsetMicros = best.offsetMicros }
        let offsetMs = Double(best.offsetMicros) / 1000, rttMs = Double(best.roundTripMicros) / 1000
        let text = String(format: "%+.1f ms (±%.1f ms)", offsetMs, rttMs / 2)
        if abs(best.offsetMicros) > options.clockWarnMs * 1000 {
            logger.warning("cluster: this node's clock is \(text) off Redis's: phones on different nodes will disagree by that much; run NTP on every node")
        } else {
            logger.info("cluster: clock offset to Redis \(text)")
        }
    }

    // MARK: Messages from Redis (on `events`)

    private func subscriberEvent(_ e: RedisSubscriberEvent) {
        switch e {
        case .message(let channel, let payload):
            if channel == ClusterKeys.classEvents {
                let text = String(decoding: payload, as: UTF8.self)
                if text.hasPrefix("release ") {
                    let code = String(text.dropFirst(8))
                    control.async { [self] in
                        guard let entry = entries[code], !entry.lease.isOwner else { return }
                        tryAcquire(code)
                    }
                } else {
                    control.async { [self] in refresh() }
                }
                return
            }
            guard let (code, suffix) = ClusterKeys.parseChannel(channel) else { return }
            if suffix == "out" {
                guard let env = RelayEnvelope.decode(payload) else { return }
                relays.withLock { $0[code] }?.deliver(env)
            } else if suffix == "in" {
                guard let up = RelayUplink.decode(payload) else { return }
                owners.withLock { $0[code] }?.handle(up)
            }
        case .ready(let afterReconnect):
            guard afterReconnect else { return }
            logger.notice("cluster: subscriptions back after a Redis reconnect; every class is brought up to date")
            control.async { [self] in
                        refresh()
                for entry in entries.values {
                    entry.relay.resubscribed()
                    // Relays that came back before this node's subscription did went unheard.
                    entry.owner?.session.resync()
                }
            }
        case .disconnected, .connectFailed, .patternMessage:
            break
        }
    }
}

public struct ClusterError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// One clock probe: our send and receive instants around the server's.
struct ClockSample: Equatable {
    var sentMicros: Int64
    var serverMicros: Int64
    var receivedMicros: Int64
    var roundTripMicros: Int64 { receivedMicros - sentMicros }
    /// Server minus ours, at the middle of the round trip.
    var offsetMicros: Int64 { serverMicros - (sentMicros + receivedMicros) / 2 }
    static func best(_ samples: [ClockSample]) -> ClockSample? { samples.min { $0.roundTripMicros < $1.roundTripMicros } }
}

/// Milliseconds of a monotonic clock (durations in logs).
func uptimeMillis() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e6 }

func wallClockMicros() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000
}

// MARK: The owner's side

/// The class's `out` channel: one PUBLISH per envelope, in order. Any thread.
final class OutChannel: Sendable {
    let store: RedisStore
    let channel: [UInt8]
    init(store: RedisStore, channel: String) {
        self.store = store
        self.channel = Array(channel.utf8)
    }
    func publish(_ envelope: RelayEnvelope) {
        store.send([Array("PUBLISH".utf8), channel, envelope.encoded()])
    }
}

/// The session's fan-out in a cluster: one message per change, whatever the number of phones.
struct RedisFanout: ClassFanout {
    let out: OutChannel
    func joined(_ member: any ClassMember) {}
    func broadcast(text: [UInt8], kind: OutboundKind, to audience: Audience) {
        out.publish(.broadcast(audience, kind: kind, text: text))
    }
    var addressesAudiences: Bool { true }
}

/// A phone on some node's relay, as the class's session sees it.
final class RemoteMember: ClassMember {
    let id: UInt64
    let out: OutChannel
    init(id: UInt64, out: OutChannel) {
        self.id = id
        self.out = out
    }
    func send(text: String, kind: OutboundKind) { out.publish(.member(id, kind: kind, text: Array(text.utf8))) }
    func send(text: [UInt8], kind: OutboundKind) { out.publish(.member(id, kind: kind, text: text)) }
    func close(code: UInt16, reason: String) { out.publish(.close(id, code: code, reason: reason)) }
    func roleChanged(_ role: Role) { out.publish(.role(id, role)) }
    /// The relay puts the class in its welcomes: a join costs Redis a small message.
    var takesClassByReference: Bool { true }
}

/// The class run by this node: relays' messages go to its session. Immutable.
final class Owner: Sendable {
    let session: ClassSession
    let fence: Int64
    let out: OutChannel
    let joinStallMs: Int
    init(session: ClassSession, fence: Int64, out: OutChannel, joinStallMs: Int = 0) {
        self.session = session
        self.fence = fence
        self.out = out
        self.joinStallMs = joinStallMs
    }

    func handle(_ up: RelayUplink) {
        switch up {
        case .join(let m, let address):
            session.join(RemoteMember(id: m, out: out), address: address)
            if joinStallMs > 0 {
                let ms = joinStallMs
                session.memberIDs { _ in usleep(UInt32(ms) * 1_000) }   // runs on the class queue
            }
        case .rejoin(let m, let address): session.join(RemoteMember(id: m, out: out), address: address, welcome: false)
        case .leave(let m): session.leave(id: m)
        case .message(let m, let raw): session.receive(raw: raw, from: RemoteMember(id: m, out: out))
        case .resync(let node, let members):
            session.resync(present: Set(members), isOfNode: { MemberID.node(of: $0) == node })
        }
    }
}
