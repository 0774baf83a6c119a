// One live class: the engine, its participants, the recording, and the broadcast of
// every change. A cue's path: ClassSocket decodes an instructor command -> ClassSession
// applies it to the engine -> the new snapshot is encoded once -> BroadcastGroup frames
// it once and hands it to every phone's queue.
import Dispatch
import Foundation
import Logging
import NetServer
import WebSocketCodec
import ClassPlan
import ClassEngine

public enum Role: String, Sendable { case participant, instructor }

/// What HTTP routes show of a class, published by the class queue after every change so a
/// route (on an event loop) reads it without waiting for that queue, which writes to disk.
struct PublicView: Sendable {
    var snapshot: Snapshot
    var participants = 0
    var instructors = 0
    var done = 0
    var tokenRefusals = 0
}

/// Mutable state is owned by `queue`; `code`, `plan`, `steps` and the JSON built at init are
/// immutable, and `view` is guarded by its lock.
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
    private var tokenGuesses = TokenGuessLimiter()
    private let view: Locked<PublicView>
    /// Runs on the class queue after each recorded event is on disk (tests slow the disk with it).
    private let onRecorded: (@Sendable () -> Void)?
    private var stateJSONCache: String = ""
    private var onFinished: (@Sendable () -> Void)?

    struct Member {
        let connection: Connection
        /// The client's address (behind trusted proxies, the one they forward).
        let address: String
        var role: Role
        var name: String?
        var wrongTokens = 0
    }

    public init(code: String, plan: ClassPlan, instructorToken: String, server: Server, leadMs: Int64 = 300,
                recordDirectory: URL?, logger: Logger, onRecorded: (@Sendable () -> Void)? = nil) throws {
        self.code = code
        self.plan = plan
        self.engine = ClassEngine(plan: plan)
        self.steps = engine.steps
        self.instructorToken = Array(instructorToken.utf8)
        self.leadMs = leadMs
        self.logger = logger
        self.onRecorded = onRecorded
        self.queue = DispatchQueue(label: "classctl.class.\(code)")
        self.group = server.makeBroadcastGroup()
        self.classJSON = Messages.classJSON(code: code, plan: plan, steps: engine.steps)
        if let dir = recordDirectory {
            let writer = try RecordingWriter(directory: dir, plan: plan, classCode: code, startedAt: wallClockMillis())
            recorder = writer
            recordingPath = writer.fileURL.path
        }
        stateJSONCache = Messages.state(engine.snapshot, serverTime: wallClockMillis(), effectiveAt: nil)
        view = Locked(PublicView(snapshot: engine.snapshot))
    }

    /// Called once when the class reaches `finished`.
    public func setOnFinished(_ f: @escaping @Sendable () -> Void) { queue.async { self.onFinished = f } }

    // MARK: Joining and leaving (from the sockets' loops)

    func join(_ c: Connection, address: String) {
        queue.async { [self] in
            members[c.id] = Member(connection: c, address: address, role: .participant, name: nil)
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
            guard let member = members[c.id] else { return }
            if let name { members[c.id]?.name = String(name.prefix(ClassLimits.maxNameCharacters)) }
            if role == .instructor {
                let correct = token.map { constantTimeEquals(Array($0.utf8), instructorToken) } ?? false
                switch tokenGuesses.attempt(correct: correct, address: member.address, wrongOnConnection: member.wrongTokens, now: wallClockMillis()) {
                case .accept:
                    members[c.id]?.role = .instructor
                    logger.info("class \(code): instructor joined from \(member.address)")
                    c.send(text: welcome(role: .instructor, clientID: c.id))
                case .refuse(let delayMs, let close):
                    members[c.id]?.wrongTokens += 1
                    logger.warning("class \(code): wrong instructor token from \(member.address)\(close ? "; closing that connection" : "")")
                    // Holds the session (and so its loops) until then, even if the server stops meanwhile.
                    let answer: @Sendable () -> Void = { [self, c] in
                        _ = self
                        c.send(text: Messages.error("bad-token", "That instructor token is not right."))
                        if close { c.close(code: WebSocketCloseCode.policyViolation, reason: "too many wrong instructor tokens") }
                    }
                    if delayMs > 0 { queue.asyncAfter(deadline: .now() + .milliseconds(Int(delayMs)), execute: answer) } else { answer() }
                }
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
            // Refused rather than cut: a cut message can say something else than meant.
            guard text.count <= ClassLimits.maxAnnouncementCharacters else {
                c.send(text: Messages.error("too-long", "Announcements are at most \(ClassLimits.maxAnnouncementCharacters) characters; this one has \(text.count)."))
                return
            }
            sendAnnouncement(text)
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
        publishView()
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
        publishView()
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

    // MARK: The view for HTTP (any thread, never waits for the class queue)

    /// On the class queue: makes the current state visible to `publicView`.
    private func publishView() {
        var v = PublicView(snapshot: engine.snapshot)
        for m in members.values { if m.role == .instructor { v.instructors += 1 } else { v.participants += 1 } }
        v.done = doneOnStep.count
        v.tokenRefusals = tokenGuesses.refusals
        view.withLock { $0 = v }
    }

    var publicView: PublicView { view.withLock { $0 } }

    /// The current state and plan summary as JSON (GET /api/classes/CODE).
    public func snapshotJSON() -> String {
        let v = publicView
        var o = JSONObject()
        o.add("class", raw: classJSON)
        o.add("state", raw: Messages.state(v.snapshot, serverTime: wallClockMillis(), effectiveAt: nil))
        var p = JSONObject()
        p.add("type", "presence"); p.add("participants", v.participants); p.add("instructors", v.instructors)
        p.add("done", v.done); p.add("step", v.snapshot.stepIndex)
        o.add("presence", raw: p.done)
        return o.done
    }

    public func summary() -> (status: String, participants: Int) {
        let v = publicView
        return (v.snapshot.status.rawValue, v.participants)
    }

    // MARK: Recording

    private func record(_ event: RecordedEvent) {
        guard let r = recorder else { return }
        do {
            try r.append(event)
            onRecorded?()
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
