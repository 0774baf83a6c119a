// One live class: the engine, its participants, the recording, and the broadcast of
// every change. A cue's path: ClassSocket decodes an instructor command -> ClassSession
// applies it to the engine -> the new snapshot is encoded once -> BroadcastGroup frames
// it once and hands it to every phone's queue.
import Dispatch
import Foundation
import Logging
import NetServer
import TLS
import WebSocketCodec
import ClassPlan
import ClassEngine

/// A connection's role. A `watcher` follows the class without being counted as a participant:
/// a console without a valid token, the big screen.
public enum Role: String, Sendable { case participant, instructor, watcher }

/// Where a class's recording goes: nowhere, a new file, or on at the end of the recording of
/// the class being resumed.
public enum ClassRecording {
    case none
    case new(directory: URL)
    case resume(Recording, url: URL)
    /// A sink of the caller's (a cluster's Redis stream), continuing `resuming` when given.
    case sink(any RecordingSink, resuming: Recording?)
}

/// What HTTP routes show of a class, published by the class queue after every change so a
/// route (on an event loop) reads it without waiting for that queue, which writes to disk.
public struct PublicView: Sendable {
    public var snapshot: Snapshot
    public var participants = 0
    public var instructors = 0
    public var done = 0
    public var tokenRefusals = 0
    public var stopSignals = 0
    public var openStopAlerts = 0
    public init(snapshot: Snapshot) { self.snapshot = snapshot }
}

/// Mutable state is owned by `queue`; `code`, `plan`, `steps` and the JSON built at init are
/// immutable, and `view` is guarded by its lock.
public final class ClassSession: @unchecked Sendable {
    public let code: String
    public let plan: ClassPlan
    public let steps: [Step]
    let queue: DispatchQueue
    let group: BroadcastGroup
    /// The group on one node; a cluster's fan-out through Redis.
    private let fanout: any ClassFanout
    /// The instructor token, or (a resumed class whose token was not kept) only its salted hash.
    private let instructorToken: [UInt8]?
    private let instructorTokenHash: String?
    private let leadMs: Int64
    private let logger: Logger
    private let classJSON: String
    /// A replay of a recorded class plays as recorded: nobody drives it (docs/protocol.md).
    public let replaySpeed: Double?

    private var engine: ClassEngine
    private var recorder: (any RecordingSink)? {
        didSet { if let recorder { lastSink = recorder } }
    }
    /// The last sink, kept after the recording closes: "Run again" starts the next run beside it.
    private var lastSink: (any RecordingSink)?
    public private(set) var recordingPath: String?
    private var members = MemberTable()
    private var doneOnStep: Set<UInt64> = []
    /// Open "I need to stop" signals by client id, and how many were raised in all.
    private var stopAlerts: [Int64: ServerMessage.StopAlert] = [:]
    private var stopSignals = 0
    private var announceID = 0
    /// The last announcements, for phones that were away when they were sent (welcome).
    private var recentAnnouncements: [(id: Int, text: String, at: Int64)] = []
    static let recentAnnouncementLimit = 10
    private var timer: DispatchSourceTimer?
    private var presenceScheduled = false
    private var tokenGuesses = TokenGuessLimiter()
    private let view: Locked<PublicView>
    /// The public base of links ("http://192.168.1.5:8080"), from the server hosting the class:
    /// every screen shows the same join link as the QR code and the banner.
    private let linkBase = Locked<@Sendable () -> String>({ "" })
    /// Runs on the class queue after each recorded event is on disk (tests slow the disk with it).
    private let onRecorded: (@Sendable () -> Void)?
    private var stateJSONCache: String = ""
    private var onFinished: [@Sendable () -> Void] = []

    struct Member {
        let connection: any ClassMember
        /// The client's address (behind trusted proxies, the one they forward).
        let address: String
        var role: Role
        var name: String?
        var wrongTokens = 0
    }

    /// The members by id, with how many there are of each role kept as they change: every join
    /// needs the counts (its welcome's presence, the HTTP view), and counting them each time made
    /// n joins cost n² (15,000 phones joining kept the class queue busy for seconds).
    struct MemberTable {
        private(set) var byID: [UInt64: Member] = [:]
        private(set) var participants = 0
        private(set) var instructors = 0

        subscript(id: UInt64) -> Member? {
            get { byID[id] }
            set {
                if let old = byID[id] { count(old.role, -1) }
                if let newValue { count(newValue.role, 1) }
                byID[id] = newValue
            }
        }

        @discardableResult
        mutating func removeValue(forKey id: UInt64) -> Member? {
            let old = byID.removeValue(forKey: id)
            if let old { count(old.role, -1) }
            return old
        }

        var keys: Dictionary<UInt64, Member>.Keys { byID.keys }
        var values: Dictionary<UInt64, Member>.Values { byID.values }

        private mutating func count(_ role: Role, _ n: Int) {
            switch role {
            case .participant: participants += n
            case .instructor: instructors += n
            case .watcher: break
            }
        }
    }

    /// A class of `plan` with a new recording in `recordDirectory` (nil: unrecorded). `steps`
    /// are the plan's expansion unless given (a replay runs the steps its recording ran).
    public convenience init(code: String, plan: ClassPlan, steps: [Step]? = nil, instructorToken: String, server: Server,
                            leadMs: Int64 = 300, recordDirectory: URL?, logger: Logger,
                            onRecorded: (@Sendable () -> Void)? = nil) throws {
        try self.init(code: code, plan: plan, steps: steps, instructorToken: instructorToken, server: server, leadMs: leadMs,
                      recording: recordDirectory.map { .new(directory: $0) } ?? .none, logger: logger, onRecorded: onRecorded)
    }

    /// A class, new or resumed (`.resume`: same code, plan, steps and timing as recorded, time
    /// run on to now as if the server had never stopped; `instructorToken` nil means only the
    /// recorded hash can check the instructor's link).
    public init(code: String, plan: ClassPlan, steps: [Step]? = nil, instructorToken: String?, server: Server,
                leadMs: Int64 = 300, recording: ClassRecording, replaySpeed: Double? = nil, logger: Logger,
                fanout: (any ClassFanout)? = nil, onRecorded: (@Sendable () -> Void)? = nil) throws {
        self.code = code
        self.replaySpeed = replaySpeed
        self.plan = plan
        var resumed: ResumedClass?
        switch recording {
        case .resume(let rec, _), .sink(_, resuming: let rec?):
            let r = Resume.rebuild(rec, now: wallClockMillis())
            resumed = r
            self.engine = r.engine
            self.instructorTokenHash = rec.instructorTokenHash ?? instructorToken.map { TokenHash.make($0) }
        case .new, .none, .sink(_, resuming: nil):
            self.engine = steps.map { ClassEngine(plan: plan, steps: $0) } ?? ClassEngine(plan: plan)
            self.instructorTokenHash = instructorToken.map { TokenHash.make($0) }
        }
        self.steps = engine.steps
        self.instructorToken = instructorToken.map { Array($0.utf8) }
        self.leadMs = leadMs
        self.logger = logger
        self.onRecorded = onRecorded
        self.queue = DispatchQueue(label: "classctl.class.\(code)")
        let group = server.makeBroadcastGroup()
        self.group = group
        self.fanout = fanout ?? GroupFanout(everyone: group, participants: server.makeBroadcastGroup())
        self.classJSON = ServerMessage.classJSON(code: code, plan: plan, steps: engine.steps, replaySpeed: replaySpeed)
        switch recording {
        case .none: break
        case .new(let dir):
            recordDirectory = dir
            let writer = try RecordingWriter(directory: dir, plan: plan, steps: engine.steps, classCode: code,
                                             startedAt: wallClockMillis(), instructorTokenHash: instructorTokenHash)
            recorder = FileRecordingSink(writer)
            recordingPath = writer.fileURL.path
        case .resume(let rec, let url):
            recordDirectory = url.deletingLastPathComponent()
            runEvents = rec.events
            runStartedAt = rec.startedAt
            recorder = FileRecordingSink(try RecordingWriter(appendingTo: url, recording: rec))
            recordingPath = url.path
        case .sink(let sink, let rec):
            recorder = sink
            recordingPath = sink.location
            if let rec {
                runEvents = rec.events
                runStartedAt = rec.startedAt
            }
        }
        lastSink = recorder   // observers do not run in init
        stateJSONCache = ServerMessage.state(engine.snapshot, serverTime: wallClockMillis(), effectiveAt: nil)
        view = Locked(PublicView(snapshot: engine.snapshot))
        if let resumed {
            queue.sync { self.continueResumed(resumed) }
        }
    }

    /// On the class queue: records what happened while the server was down, brings back the
    /// open stop signals, and starts the timers as the live class would have.
    private func continueResumed(_ r: ResumedClass) {
        for s in r.missedAdvances {
            record(RecordedEvent(at: s.at, kind: .autoAdvance, seq: s.seq, stepIndex: s.stepIndex))
        }
        let snap = engine.snapshot
        record(RecordedEvent(at: wallClockMillis(), kind: .resumed, seq: snap.seq, stepIndex: snap.stepIndex))
        for e in r.announcements.suffix(Self.recentAnnouncementLimit) {
            announceID += 1
            recentAnnouncements.append((announceID, e.text ?? "", e.at))
        }
        for e in r.openStopSignals {
            guard let client = e.client else { continue }
            stopAlerts[client] = ServerMessage.StopAlert(client: client, name: e.name, since: e.at, step: e.stepIndex, online: false)
        }
        lastPublishedStep = snap.stepIndex
        stateJSONCache = ServerMessage.state(snap, serverTime: wallClockMillis(), effectiveAt: nil)
        publishView()
        scheduleTimer()
        logger.info("class \(code): resumed at \(snap.status.rawValue) step \(snap.stepIndex.map { String($0 + 1) } ?? "-") of \(steps.count)\(r.missedAdvances.isEmpty ? "" : "; \(r.missedAdvances.count) timed steps ended while the server was down")")
    }

    public func setLinkBase(_ base: @escaping @Sendable () -> String) { linkBase.withLock { $0 = base } }

    /// The join link phones should share, or nil before the server knows its public address.
    var joinLink: String? {
        let base = linkBase.withLock { $0 }()
        return base.isEmpty ? nil : "\(base)/c/\(code)"
    }

    /// The engine's state now (for the start banner).
    public var snapshot: Snapshot { queue.sync { engine.snapshot } }

    /// Runs `f` each time the class reaches `finished` (every handler added, in order; a class
    /// run again finishes again).
    public func whenFinished(_ f: @escaping @Sendable () -> Void) { queue.async { self.onFinished.append(f) } }

    // MARK: Joining and leaving (from the sockets' loops)

    /// A member comes. `welcome` false: one already welcomed by an earlier owner of the class
    /// (a cluster's relay re-announcing its phones), registered without a new welcome.
    public func join(_ c: any ClassMember, address: String, welcome sendWelcome: Bool = true) {
        queue.async { [self] in
            guard !detached else { return }
            if !sendWelcome, members[c.id] != nil { return }
            members[c.id] = Member(connection: c, address: address, role: .participant, name: nil)
            if sendWelcome { c.send(text: welcome(role: .participant, for: c)) }
            fanout.joined(c)
            if let alert = stopAlerts[Int64(c.id)], !alert.online {
                stopAlerts[Int64(c.id)]?.online = true
                sendAlerts()
            }
            schedulePresence()
        }
    }

    func leave(_ c: Connection) { leave(id: c.id) }

    public func leave(id: UInt64) {
        queue.async { [self] in
            guard members.removeValue(forKey: id) != nil else { return }
            doneOnStep.remove(id)
            if stopAlerts[Int64(id)] != nil {
                stopAlerts[Int64(id)]?.online = false
                sendAlerts()
            }
            schedulePresence()
        }
    }

    /// The ids of the members (a cluster's owner drops those of a node that died).
    public func memberIDs(completion: @escaping @Sendable ([UInt64]) -> Void) {
        queue.async { [self] in completion(Array(members.keys)) }
    }

    /// Sends the current state to everyone and presence soon (a relay that was away, a new
    /// owner). With `node`: the members whose ids `isOfNode` and are not in `present` left
    /// meanwhile (their leaving was lost).
    public func resync(present: Set<UInt64>? = nil, isOfNode: (@Sendable (UInt64) -> Bool)? = nil) {
        queue.async { [self] in
            guard !detached else { return }
            if let present, let isOfNode {
                for id in members.keys where isOfNode(id) && !present.contains(id) {
                    members[id] = nil
                    doneOnStep.remove(id)
                    if stopAlerts[Int64(id)] != nil { stopAlerts[Int64(id)]?.online = false }
                }
            }
            stateJSONCache = ServerMessage.state(engine.snapshot, serverTime: wallClockMillis(), effectiveAt: nil)
            fanout.broadcast(text: Array(stateJSONCache.utf8), kind: .supersedable, to: .everyone)
            // The newest announcement again, for phones whose relay was away when it went out
            // (the pages show an announcement once: by `at`, as from a welcome).
            if let a = recentAnnouncements.last, wallClockMillis() - a.at < 10 * 60_000 {   // the pages' window for missed ones
                fanout.broadcast(text: Array(ServerMessage.announce(id: a.id, text: a.text, at: a.at).utf8), kind: .ordinary, to: .everyone)
            }
            schedulePresence()
        }
    }

    /// Stops running this class here without recording anything (a cluster node that lost the
    /// class's lease): timers stop, messages are ignored. Blocks until done.
    public func detach() {
        queue.sync {
            detached = true
            timer?.cancel()
            timer = nil
            recorder = nil
        }
    }
    private var detached = false

    private func welcome(role: Role, for member: any ClassMember) -> String {
        let now = wallClockMillis()
        return ServerMessage.welcome(role: role, clientID: member.id, serverTime: now,
                                     classJSON: member.takesClassByReference ? ServerMessage.classPlaceholder : classJSON,
                                     state: ServerMessage.state(engine.snapshot, serverTime: now, effectiveAt: nil),
                                     presence: presenceJSON(withNames: role != .participant),
                                     alerts: role == .instructor ? ServerMessage.alertList(openAlerts) : nil,
                                     announcements: recentAnnouncements.map { ServerMessage.announce(id: $0.id, text: $0.text, at: $0.at) },
                                     joinLink: joinLink,
                                     summary: engine.snapshot.status == .finished ? summaryJSON() : nil)
    }

    // MARK: Messages from clients

    /// Every client message but `time` comes here from its socket's loop: one hop to the class
    /// queue, one role check, one handler per message.
    func receive(_ message: ClientMessage, from c: any ClassMember) {
        queue.async { [self] in
            guard !detached, let member = members[c.id] else { return }
            if let role = message.requiredRole, member.role != role {
                c.send(text: role == .instructor
                       ? ServerMessage.error("not-instructor", "Only the instructor can do that.")
                       : ServerMessage.error("not-participant", "Only participants do that."))
                return
            }
            if replaySpeed != nil, message.requiredRole == .instructor {
                c.send(text: ServerMessage.error("replay", "This is a replay of a recorded class: it plays as it was recorded, so it has no controls."))
                return
            }
            switch message {
            case .hello(let role, let name, let token): hello(c, member, role: role, name: name, token: token)
            case .time: break   // answered on the socket's loop (ClassSocket)
            case .sync: c.send(text: ServerMessage.state(engine.snapshot, serverTime: wallClockMillis(), effectiveAt: nil), kind: .supersedable)
            case .done(let step): done(c, step: step)
            case .stop(let on): stopSignal(c, member, on: on)
            case .command(let command):
                if let error = perform(command, source: "instructor"), !detached {
                    c.send(text: ServerMessage.error(error.notSaved ? "not-saved" : "invalid-command", error.text))
                }
            case .announce(let text):
                // Refused rather than cut: a cut message can say something else than meant.
                guard text.count <= ClassLimits.maxAnnouncementCharacters else {
                    c.send(text: ServerMessage.error("too-long", "Announcements are at most \(ClassLimits.maxAnnouncementCharacters) characters; this one has \(text.count)."))
                    return
                }
                if let why = sendAnnouncement(text), !detached {
                    c.send(text: ServerMessage.error("not-saved", "The announcement could not be saved, so it was not sent (\(why)). Try again in a moment."))
                }
            case .acknowledgeStop(let client): acknowledgeStop(client)
            case .runAgain: runAgain(c)
            }
        }
    }

    /// A message as a phone sent it (a cluster's relay forwards them); undecodable ones are dropped.
    public func receive(raw: [UInt8], from c: any ClassMember) {
        if case .success(let message) = ClientMessage.decode(raw) { receive(message, from: c) }
    }

    private func hello(_ c: any ClassMember, _ member: Member, role: Role, name: String?, token: String?) {
        if let name { members[c.id]?.name = String(name.prefix(ClassLimits.maxNameCharacters)) }
        if role == .watcher {
            members[c.id]?.role = .watcher
            c.roleChanged(.watcher); fanout.roleChanged(c, to: .watcher)
        } else if role == .instructor {
            let correct = token.map(isInstructorToken) ?? false
            switch tokenGuesses.attempt(correct: correct, address: member.address, wrongOnConnection: member.wrongTokens, now: wallClockMillis()) {
            case .accept:
                members[c.id]?.role = .instructor
                c.roleChanged(.instructor); fanout.roleChanged(c, to: .instructor)
                logger.info("class \(code): instructor joined from \(member.address)")
                c.send(text: welcome(role: .instructor, for: c))
            case .refuse(let delayMs, let close):
                members[c.id]?.wrongTokens += 1
                members[c.id]?.role = .watcher   // a console, even without the right token: not a participant
                c.roleChanged(.watcher); fanout.roleChanged(c, to: .watcher)
                publishView()
                logger.warning("class \(code): wrong instructor token from \(member.address)\(close ? "; closing that connection" : "")")
                // Holds the session (and so its loops) until then, even if the server stops meanwhile.
                let answer: @Sendable () -> Void = { [self, c] in
                    _ = self
                    c.send(text: ServerMessage.error("bad-token", "That instructor token is not right."))
                    if close { c.close(code: WebSocketCloseCode.policyViolation, reason: "too many wrong instructor tokens") }
                }
                if delayMs > 0 { queue.asyncAfter(deadline: .now() + .milliseconds(Int(delayMs)), execute: answer) } else { answer() }
            }
        } else if let alert = stopAlerts[Int64(c.id)] {
            stopAlerts[Int64(c.id)]?.name = members[c.id]?.name ?? alert.name
            sendAlerts()
        }
        schedulePresence()
    }

    private func done(_ c: any ClassMember, step: Int) {
        let snap = engine.snapshot
        guard snap.status == .running || snap.status == .paused, snap.stepIndex == step else { return }
        doneOnStep.insert(c.id)
        schedulePresence()
        if let share = plan.advanceWhenDone, steps[step].durationMs == nil, snap.status == .running {
            let participants = members.participants
            if participants > 0, Double(doneOnStep.count) >= share * Double(participants) {
                _ = perform(.next, source: "done share reached")
            }
        }
    }

    // MARK: Run again, and the summary of a run

    /// A finished class runs again from its first step (the console's "Run again"): same code
    /// and links, a new recording, every phone welcomed to the new run.
    private func runAgain(_ c: any ClassMember) {
        guard engine.snapshot.status == .finished else {
            c.send(text: ServerMessage.error("invalid-command", "Run again is for a finished class; this one is still on."))
            return
        }
        timer?.cancel()
        timer = nil
        engine = ClassEngine(plan: plan, steps: steps)
        runEvents = []
        runStartedAt = wallClockMillis()
        doneOnStep.removeAll()
        recentAnnouncements.removeAll()
        lastPublishedStep = nil
        if let previous = lastSink {
            do {
                let sink = try previous.newRun(plan: plan, steps: steps, classCode: code, startedAt: runStartedAt,
                                               instructorTokenHash: instructorTokenHash)
                try? previous.close()
                recorder = sink
                recordingPath = sink.location
            } catch {
                logger.error("class \(code): cannot start the new run's recording (\(error)); it runs unrecorded")
            }
        }
        stateJSONCache = ServerMessage.state(engine.snapshot, serverTime: wallClockMillis(), effectiveAt: nil)
        publishView()
        for m in members.values { m.connection.send(text: welcome(role: m.role, for: m.connection)) }
        logger.info("class \(code): running again\(recordingPath.map { " (recording \($0))" } ?? "")")
    }

    /// The class as it was run: steps done with their times, total time and distance.
    private func summaryJSON() -> String {
        let recording = Recording(plan: plan, steps: steps, classCode: code, startedAt: runStartedAt, events: runEvents, warnings: [])
        let runs = PlanExport.stepRuns(in: recording)
        let snap = engine.snapshot
        let total = (snap.finishedAt ?? wallClockMillis()) - (snap.classStartedAt ?? runStartedAt)
        return ServerMessage.summary(steps: runs.map { ($0.step, $0.ranMs) }, totalMs: max(0, total))
    }

    // MARK: "I need to stop" (the guidance: stop at dizziness, pain or loss of balance)

    /// Raised or taken back by a participant; stays on every console until acknowledged, also
    /// when the phone goes away (that is when it matters most).
    private func stopSignal(_ c: any ClassMember, _ member: Member, on: Bool) {
        let id = Int64(c.id), now = wallClockMillis()
        if on {
            guard stopAlerts[id] == nil else { c.send(text: ServerMessage.stopStatus(on: true, acknowledged: false)); return }
            stopAlerts[id] = ServerMessage.StopAlert(client: id, name: member.name, since: now, step: engine.snapshot.stepIndex, online: true)
            stopSignals += 1
            record(RecordedEvent(at: now, kind: .stopSignal, seq: engine.snapshot.seq, stepIndex: engine.snapshot.stepIndex, client: id, name: member.name))
            logger.notice("class \(code): \(member.name ?? "a participant") needs to stop (step \(engine.snapshot.stepIndex.map { String($0 + 1) } ?? "-"))")
        } else {
            guard stopAlerts.removeValue(forKey: id) != nil else { c.send(text: ServerMessage.stopStatus(on: false, acknowledged: false)); return }
            record(RecordedEvent(at: now, kind: .stopWithdrawn, seq: engine.snapshot.seq, stepIndex: engine.snapshot.stepIndex, client: id, name: member.name))
        }
        c.send(text: ServerMessage.stopStatus(on: on, acknowledged: false))
        sendAlerts()
    }

    private func acknowledgeStop(_ client: Int64) {
        guard let alert = stopAlerts.removeValue(forKey: client) else { sendAlerts(); return }
        record(RecordedEvent(at: wallClockMillis(), kind: .stopAcknowledged, seq: engine.snapshot.seq,
                             stepIndex: engine.snapshot.stepIndex, client: client, name: alert.name))
        if let m = members[UInt64(client)] { m.connection.send(text: ServerMessage.stopStatus(on: true, acknowledged: true)) }
        sendAlerts()
    }

    private var openAlerts: [ServerMessage.StopAlert] { stopAlerts.values.sorted { ($0.since, $0.client) < ($1.since, $1.client) } }

    /// Every console gets the whole list: one that reconnects or opens later sees the same.
    private func sendAlerts() {
        publishView()
        let text = ServerMessage.alerts(openAlerts)
        for m in members.values where m.role == .instructor { m.connection.send(text: text) }
    }

    /// An announcement from code (replay), sent as the instructor's would be.
    public func broadcastAnnouncement(_ text: String) {
        queue.async { self.sendAnnouncement(text) }
    }

    /// Records the announcement, then sends it to everyone (never superseded or dropped).
    /// Nil, or why it could not be stored (then nothing was sent).
    @discardableResult
    private func sendAnnouncement(_ text: String) -> String? {
        let now = wallClockMillis()
        if let why = record(RecordedEvent(at: now, kind: .announce, text: text, seq: engine.snapshot.seq)) { return why }
        announceID += 1
        recentAnnouncements.append((announceID, text, now))
        if recentAnnouncements.count > Self.recentAnnouncementLimit { recentAnnouncements.removeFirst() }
        fanout.broadcast(text: Array(ServerMessage.announce(id: announceID, text: text, at: now).utf8), kind: .ordinary, to: .everyone)
        return nil
    }

    // MARK: Driving the engine (on the class queue)

    struct CommandError { var text: String; var notSaved = false }

    /// Applies a command effective a short lead from now; returns an error or nil. A command
    /// that a required sink cannot store is not made at all.
    @discardableResult
    func perform(_ command: EngineCommand, source: String) -> CommandError? {
        let now = wallClockMillis()
        let at = now + leadMs
        var next = engine
        switch next.apply(command, at: at) {
        case .failure(let e):
            return CommandError(text: "\(e)")
        case .success(let snap):
            if let why = record(RecordedEvent(at: at, kind: .command, command: command, seq: snap.seq, stepIndex: snap.stepIndex)) {
                logger.warning("class \(code): \(command) (\(source)) refused: it could not be saved (\(why))")
                return CommandError(text: "The class could not save this command, so it was not made (\(why)). Try again in a moment.", notSaved: true)
            }
            engine = next
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
        stateJSONCache = ServerMessage.state(snap, serverTime: wallClockMillis(), effectiveAt: effectiveAt)
        publishView()
        let finished = snap.status == .finished
        if finished {
            // Closed (and the instructor's token file gone) before anyone hears of the end: a
            // crash right after it leaves nothing behind that belongs to a class still going.
            closeRecording()
            for f in onFinished { f() }
        }
        // State supersedes state: a slow phone gets the newest, never a backlog.
        fanout.broadcast(text: Array(stateJSONCache.utf8), kind: .supersedable, to: .everyone)
        scheduleTimer()
        // Every phone gets the summary of the class as it was run.
        if finished { fanout.broadcast(text: Array(summaryJSON().utf8), kind: .ordinary, to: .everyone) }
    }
    private var lastPublishedStep: Int?
    /// This run's events (also when unrecorded): the post-class summary is computed from them.
    private var runEvents: [RecordedEvent] = []
    private var runStartedAt: Int64 = wallClockMillis()
    /// Where a new run's recording goes ("Run again"); nil when the class is unrecorded.
    private var recordDirectory: URL?

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
        guard !detached else { return }
        guard let snap = engine.tick(now: deadline) else { scheduleTimer(); return }
        if record(RecordedEvent(at: deadline, kind: .autoAdvance, seq: snap.seq, stepIndex: snap.stepIndex)) != nil {
            // Not stored (a cluster without Redis): phones follow the plan by themselves, and
            // whoever runs the class next derives this advance from the plan again.
            scheduleTimer()
            return
        }
        publish(snap, effectiveAt: deadline)
    }

    // MARK: Presence

    private func schedulePresence() {
        publishView()
        guard !presenceScheduled else { return }
        presenceScheduled = true
        // At most ~4 presence messages a second, however many phones come and go; fewer in a
        // big class (one every 2 s at 16,000+ members), where each one is a send per phone.
        queue.asyncAfter(deadline: .now() + .milliseconds(Self.presenceIntervalMs(members: members.byID.count))) { [self] in
            presenceScheduled = false
            guard !detached else { return }
            let plain = presenceJSON(withNames: false)
            let named = presenceJSON(withNames: true)
            if fanout.addressesAudiences {
                // One message for every phone, however many (a cluster: one PUBLISH); consoles and
                // watchers (the big screen's lobby shows who joined) get the names, one by one.
                fanout.broadcast(text: Array(plain.utf8), kind: .ordinary, to: .participants)
                for m in members.values where m.role != .participant { m.connection.send(text: named) }
                return
            }
            let plainBytes = Array(plain.utf8)
            for m in members.values {
                // Names for consoles and watchers (the big screen's lobby shows who joined), counts for phones.
                if m.role == .participant { m.connection.send(text: plainBytes) } else { m.connection.send(text: named) }
            }
        }
    }

    /// 250 ms per 2,000 members, between 250 ms and 2 s.
    static func presenceIntervalMs(members: Int) -> Int {
        min(2_000, 250 * max(1, (members + 1_999) / 2_000))
    }

    /// Counts from `members` (no walk over every member: every phone's welcome has them);
    /// only the names visit the members.
    private func presenceJSON(withNames: Bool) -> String {
        var names: [String] = [], doneNames: [String] = []
        if withNames {
            for m in members.values where m.role == .participant {
                if let n = m.name, !n.isEmpty {
                    names.append(n)
                    if doneOnStep.contains(m.connection.id) { doneNames.append(n) }
                }
            }
        }
        return ServerMessage.presence(participants: members.participants, instructors: members.instructors,
                                      done: doneOnStep.count, step: engine.snapshot.stepIndex,
                                      names: withNames ? names.sorted() : nil, doneNames: withNames ? doneNames.sorted() : nil)
    }

    // MARK: The view for HTTP (any thread, never waits for the class queue)

    /// On the class queue: makes the current state visible to `publicView`.
    private func publishView() {
        var v = PublicView(snapshot: engine.snapshot)
        v.instructors = members.instructors
        v.participants = members.participants
        v.done = doneOnStep.count
        v.tokenRefusals = tokenGuesses.refusals
        v.stopSignals = stopSignals
        v.openStopAlerts = stopAlerts.count
        view.withLock { $0 = v }
    }

    public var publicView: PublicView { view.withLock { $0 } }

    /// The current state and plan summary as JSON (GET /api/classes/CODE).
    public func snapshotJSON() -> String {
        ServerMessage.snapshot(classJSON: classJSON, view: publicView, serverTime: wallClockMillis())
    }

    public func summary() -> (status: String, participants: Int) {
        let v = publicView
        return (v.snapshot.status.rawValue, v.participants)
    }

    // MARK: Recording

    /// Nil when stored (or the class is unrecorded); otherwise why not, and only from a
    /// required sink: the caller then does not make the change.
    @discardableResult
    private func record(_ event: RecordedEvent) -> String? {
        guard let r = recorder else { runEvents.append(event); return nil }
        do {
            try r.append(event)
            runEvents.append(event)
            onRecorded?()
            return nil
        } catch {
            if error is RecordingSuperseded {
                // Another node runs the class: it answers; this session goes quiet.
                detached = true
                timer?.cancel()
                timer = nil
                logger.notice("class \(code): another node runs this class now; this one stops answering")
                return "\(error)"
            }
            if r.required {
                logger.error("class \(code): cannot store the \(event.kind.rawValue) event in \(r.location) (\(error))")
                return "\(error)"
            }
            // A full disk must not stop the class: say so loudly and keep running.
            logger.error("class \(code): cannot write the recording (\(error)); the class goes on unrecorded from here")
            recorder = nil
            runEvents.append(event)
            return nil
        }
    }

    private func closeRecording() {
        guard let r = recorder else { return }
        do { try r.close() } catch { logger.error("class \(code): closing the recording failed: \(error)") }
        recorder = nil
    }

    /// Stops without ending the class: records `suspended` and closes the recording, so the next
    /// `classctl start` resumes it (SIGTERM, a deploy, the instructor's first Ctrl-C). Blocks.
    public func suspend(reason: String) {
        queue.sync {
            timer?.cancel()
            timer = nil
            guard engine.snapshot.status != .finished else { closeRecording(); return }
            record(RecordedEvent(at: wallClockMillis(), kind: .suspended, text: reason, seq: engine.snapshot.seq, stepIndex: engine.snapshot.stepIndex))
            closeRecording()
            logger.notice("class \(code): suspended (\(reason)); starting classctl again resumes it")
        }
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

extension ClassSession {
    /// The token itself when we have it (constant time); otherwise its recorded slow hash.
    func isInstructorToken(_ token: String) -> Bool {
        if let instructorToken { return constantTimeEquals(Array(token.utf8), instructorToken) }
        if let instructorTokenHash { return TokenHash.verify(token, against: instructorTokenHash) }
        return false
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

