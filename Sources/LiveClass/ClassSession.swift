// One live class: the engine, its participants, the recording, and the broadcast of
// every change. A cue's path: ClassSocket decodes an instructor command -> ClassSession
// applies it to the engine -> the new snapshot is encoded once -> BroadcastGroup frames
// it once and hands it to every phone's queue.
import Dispatch
import Foundation
import Logging
import NetServer
import ClassPlan
import ClassEngine

public enum Role: String, Sendable { case participant, instructor }

/// Mutable state is owned by `queue`; `code`, `plan`, `steps` and the JSON built at init are
/// immutable.
public final class ClassSession: @unchecked Sendable {
    public let code: String
    public let plan: ClassPlan
    public let steps: [Step]
    let queue: DispatchQueue
    let group: BroadcastGroup
    private let instructorToken: [UInt8]
    private let leadMs: Int64
    private let logger: Logger
    private let classJSON: String

    private var engine: ClassEngine
    private var recorder: RecordingWriter?
    public private(set) var recordingPath: String?
    private var members: [UInt64: Member] = [:]
    private var doneOnStep: Set<UInt64> = []
    private var announceID = 0
    private var timer: DispatchSourceTimer?
    private var presenceScheduled = false
    private var failedLogins: [String: (count: Int, since: Int64, blockedUntil: Int64)] = [:]
    private var stateJSONCache: String = ""
    private var onFinished: (@Sendable () -> Void)?

    struct Member {
        let connection: Connection
        var role: Role
        var name: String?
    }

    public init(code: String, plan: ClassPlan, instructorToken: String, server: Server, leadMs: Int64 = 300,
                recordDirectory: URL?, logger: Logger) throws {
        self.code = code
        self.plan = plan
        self.engine = ClassEngine(plan: plan)
        self.steps = engine.steps
        self.instructorToken = Array(instructorToken.utf8)
        self.leadMs = leadMs
        self.logger = logger
        self.queue = DispatchQueue(label: "classctl.class.\(code)")
        self.group = server.makeBroadcastGroup()
        self.classJSON = Messages.classJSON(code: code, plan: plan, steps: engine.steps)
        if let dir = recordDirectory {
            let writer = try RecordingWriter(directory: dir, plan: plan, classCode: code, startedAt: wallClockMillis())
            recorder = writer
            recordingPath = writer.fileURL.path
        }
        stateJSONCache = Messages.state(engine.snapshot, serverTime: wallClockMillis(), effectiveAt: nil)
    }

    /// Called once when the class reaches `finished`.
    public func setOnFinished(_ f: @escaping @Sendable () -> Void) { queue.async { self.onFinished = f } }

    // MARK: Joining and leaving (from the sockets' loops)

    func join(_ c: Connection) {
        queue.async { [self] in
            members[c.id] = Member(connection: c, role: .participant, name: nil)
            c.send(text: welcome(role: .participant, clientID: c.id))
            group.add(c)
            schedulePresence()
        }
    }

    func leave(_ c: Connection) {
        queue.async { [self] in
            guard members.removeValue(forKey: c.id) != nil else { return }
            doneOnStep.remove(c.id)
            schedulePresence()
        }
    }

    private func welcome(role: Role, clientID: UInt64) -> String {
        let now = wallClockMillis()
        var o = JSONObject()
        o.add("type", "welcome")
        o.add("protocol", 1)
        o.add("serverTime", now)
        o.add("role", role.rawValue)
        o.add("clientId", Int64(clientID))
        o.add("class", raw: classJSON)
        o.add("state", raw: Messages.state(engine.snapshot, serverTime: now, effectiveAt: nil))
        o.add("presence", raw: presenceJSON(withNames: role == .instructor))
        return o.done
    }

    // MARK: Messages from clients (hopped to the class queue)

    func hello(_ c: Connection, role: Role, name: String?, token: String?) {
        queue.async { [self] in
            guard members[c.id] != nil else { return }
            if let name { members[c.id]?.name = String(name.prefix(40)) }
            if role == .instructor {
                let now = wallClockMillis()
                var record = failedLogins[c.remoteAddress] ?? (0, now, 0)
                if record.blockedUntil > now {
                    c.send(text: Messages.error("throttled", "Too many wrong tokens; try again in \((record.blockedUntil - now) / 1000 + 1) s."))
                    return
                }
                guard let token, constantTimeEquals(Array(token.utf8), instructorToken) else {
                    if now - record.since > 60_000 { record = (0, now, 0) }
                    record.count += 1
                    if record.count >= 5 { record.blockedUntil = now + 60_000; record.count = 0; record.since = now }
                    failedLogins[c.remoteAddress] = record
                    logger.warning("class \(code): wrong instructor token from \(c.remoteAddress)")
                    c.send(text: Messages.error("bad-token", "That instructor token is not right."))
                    return
                }
                failedLogins[c.remoteAddress] = nil
                members[c.id]?.role = .instructor
                logger.info("class \(code): instructor joined from \(c.remoteAddress)")
                c.send(text: welcome(role: .instructor, clientID: c.id))
            }
            schedulePresence()
        }
    }

    func sync(_ c: Connection) {
        queue.async { [self] in
            c.send(text: Messages.state(engine.snapshot, serverTime: wallClockMillis(), effectiveAt: nil), kind: .supersedable)
        }
    }

    func done(_ c: Connection, step: Int) {
        queue.async { [self] in
            guard let m = members[c.id], m.role == .participant else { return }
            let snap = engine.snapshot
            guard snap.status == .running || snap.status == .paused, snap.stepIndex == step else { return }
            doneOnStep.insert(c.id)
            schedulePresence()
            if let share = plan.advanceWhenDone, steps[step].durationMs == nil, snap.status == .running {
                let participants = members.values.filter { $0.role == .participant }.count
                if participants > 0, Double(doneOnStep.count) >= share * Double(participants) {
                    _ = perform(.next, source: "done share reached")
                }
            }
        }
    }

    func command(_ c: Connection, _ command: EngineCommand) {
        queue.async { [self] in
            guard members[c.id]?.role == .instructor else {
                c.send(text: Messages.error("not-instructor", "Only the instructor can do that."))
                return
            }
            if let error = perform(command, source: "instructor") {
                c.send(text: Messages.error("invalid-command", error))
            }
        }
    }

    func announce(_ c: Connection, text: String) {
        queue.async { [self] in
            guard members[c.id]?.role == .instructor else {
                c.send(text: Messages.error("not-instructor", "Only the instructor can do that."))
                return
            }
            sendAnnouncement(String(text.prefix(280)))
        }
    }

    /// An announcement from code (replay), sent as the instructor's would be.
    public func broadcastAnnouncement(_ text: String) {
        queue.async { self.sendAnnouncement(text) }
    }

    /// Records the announcement, then sends it to everyone (never superseded or dropped).
    private func sendAnnouncement(_ text: String) {
        let now = wallClockMillis()
        announceID += 1
        record(RecordedEvent(at: now, kind: .announce, text: text, seq: engine.snapshot.seq))
        var o = JSONObject()
        o.add("type", "announce"); o.add("id", announceID); o.add("text", text); o.add("at", now)
        group.broadcast(text: Array(o.done.utf8), kind: .ordinary)
    }

    // MARK: Driving the engine (on the class queue)

    /// Applies a command effective a short lead from now; returns an error text or nil.
    @discardableResult
    func perform(_ command: EngineCommand, source: String) -> String? {
        let now = wallClockMillis()
        let at = now + leadMs
        switch engine.apply(command, at: at) {
        case .failure(let e):
            return "\(e)"
        case .success(let snap):
            record(RecordedEvent(at: at, kind: .command, command: command, seq: snap.seq, stepIndex: snap.stepIndex))
            logger.info("class \(code): \(command) (\(source)) -> \(snap.status.rawValue) step \(snap.stepIndex.map(String.init) ?? "-")")
            publish(snap, effectiveAt: at)
            return nil
        }
    }

    /// Commands from code (replay, shutdown).
    public func apply(_ command: EngineCommand, source: String) {
        queue.async { _ = self.perform(command, source: source) }
    }

    private func publish(_ snap: Snapshot, effectiveAt: Int64) {
        let previousStep = lastPublishedStep
        lastPublishedStep = snap.stepIndex
        if snap.stepIndex != previousStep {
            doneOnStep.removeAll()
            schedulePresence()
        }
        stateJSONCache = Messages.state(snap, serverTime: wallClockMillis(), effectiveAt: effectiveAt)
        // State supersedes state: a slow phone gets the newest, never a backlog.
        group.broadcast(text: Array(stateJSONCache.utf8), kind: .supersedable)
        scheduleTimer()
        if snap.status == .finished {
            closeRecording()
            onFinished?()
            onFinished = nil
        }
    }
    private var lastPublishedStep: Int?

    /// Timed steps end by themselves: wake a lead before the end instant and publish the
    /// next state effective exactly at that instant, so phones switch together.
    private func scheduleTimer() {
        timer?.cancel()
        timer = nil
        guard let deadline = engine.nextDeadline else { return }
        let delayMs = max(0, deadline - leadMs - wallClockMillis())
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + .milliseconds(Int(delayMs)), leeway: .milliseconds(2))
        t.setEventHandler { [weak self] in self?.deadlineReached(deadline) }
        t.resume()
        timer = t
    }

    private func deadlineReached(_ deadline: Int64) {
        guard let snap = engine.tick(now: deadline) else { scheduleTimer(); return }
        record(RecordedEvent(at: deadline, kind: .autoAdvance, seq: snap.seq, stepIndex: snap.stepIndex))
        publish(snap, effectiveAt: deadline)
    }

    // MARK: Presence

    private func schedulePresence() {
        guard !presenceScheduled else { return }
        presenceScheduled = true
        // At most ~4 presence messages a second, however many phones come and go.
        queue.asyncAfter(deadline: .now() + .milliseconds(250)) { [self] in
            presenceScheduled = false
            let plain = Array(presenceJSON(withNames: false).utf8)
            let named = presenceJSON(withNames: true)
            for m in members.values {
                if m.role == .instructor { m.connection.send(text: named) } else { m.connection.send(text: plain) }
            }
        }
    }

    private func presenceJSON(withNames: Bool) -> String {
        var participants = 0, instructors = 0
        var names: [String] = []
        for m in members.values {
            if m.role == .instructor { instructors += 1 } else {
                participants += 1
                if let n = m.name, !n.isEmpty { names.append(n) }
            }
        }
        var o = JSONObject()
        o.add("type", "presence")
        o.add("participants", participants)
        o.add("instructors", instructors)
        o.add("done", doneOnStep.count)
        o.add("step", engine.snapshot.stepIndex)
        if withNames { o.add("names", strings: names.sorted()) }
        return o.done
    }

    // MARK: Snapshot for HTTP

    /// The current state and plan summary as JSON (GET /api/classes/CODE).
    public func snapshotJSON() -> String {
        queue.sync {
            var o = JSONObject()
            o.add("class", raw: classJSON)
            o.add("state", raw: Messages.state(engine.snapshot, serverTime: wallClockMillis(), effectiveAt: nil))
            o.add("presence", raw: presenceJSON(withNames: false))
            return o.done
        }
    }

    public func summary() -> (status: String, participants: Int) {
        queue.sync { (engine.snapshot.status.rawValue, members.values.filter { $0.role == .participant }.count) }
    }

    // MARK: Recording

    private func record(_ event: RecordedEvent) {
        guard let r = recorder else { return }
        do {
            try r.append(event)
        } catch {
            // A full disk must not stop the class: say so loudly and keep running.
            logger.error("class \(code): cannot write the recording (\(error)); the class goes on unrecorded from here")
            recorder = nil
        }
    }

    private func closeRecording() {
        guard let r = recorder else { return }
        do { try r.close() } catch { logger.error("class \(code): closing the recording failed: \(error)") }
        recorder = nil
    }

    /// Ends the class (if running) and closes the recording; used on shutdown. Blocks until done.
    public func finish(reason: String) {
        queue.sync {
            if engine.snapshot.status != .finished { _ = perform(.end, source: reason) }
            closeRecording()
            timer?.cancel()
            timer = nil
        }
    }
}

/// Compares secrets in time independent of where they differ.
func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
    let n = max(a.count, b.count)
    for i in 0..<n {
        let x = i < a.count ? a[i] : 0
        let y = i < b.count ? b[i] : 0
        diff |= x ^ y
    }
    return diff == 0
}
