// A class's relay on one node of a cluster (docs/cluster.md). Phones on this node connect to
// it as they would to the class: their clock-sync requests are answered here (ClassSocket, on
// the socket's loop), everything else goes up to the node that runs the class (`uplink`), and
// each change the class sends down once (`deliver`) is framed once and fanned out to this
// node's phones through its broadcast groups. Transport-free: ClassCluster wires it to Redis.
import Dispatch
import Foundation
import NetServer
import ClassPlan
import ClassEngine

/// Owned by `queue` (members, owner fence); `view` and `linkBase` are behind their locks.
public final class ClassRelay: ClassHost, @unchecked Sendable {
    public let code: String
    public let plan: ClassPlan
    public let steps: [Step]
    /// This node's number (the high bits of its members' ids).
    public let node: UInt64
    private let classJSON: String
    private let queue: DispatchQueue
    private let everyone: BroadcastGroup
    /// The participants: presence as a count (consoles and watchers get names, one by one).
    private let participants: BroadcastGroup
    private let send: Uplink
    /// Sends a message up; the completion (if any) says whether the class's runner got it.
    public typealias Uplink = @Sendable (RelayUplink, (@Sendable (Bool) -> Void)?) -> Void

    private struct Local {
        let connection: Connection
        let address: String
        var role: Role = .participant
        /// The last `hello` the phone sent: said again to a new owner.
        var hello: [UInt8]?
        /// An owner welcomed it: a new owner registers it without a second welcome.
        var welcomed = false
    }
    private var members: [UInt64: Local] = [:]
    /// Members by role, kept with `members`.
    private var counts = RoleCounts()
    private var ownerFence: Int64 = 0
    private let view: Locked<PublicView>
    private let linkBase = Locked<@Sendable () -> String>({ "" })

    /// `recording`: the class as stored (its plan and steps, and the state it is in now).
    public init(recording: Recording, node: UInt64, server: Server, uplink: @escaping Uplink) {
        code = recording.classCode
        plan = recording.plan
        steps = recording.steps
        self.node = node
        self.send = uplink
        classJSON = ServerMessage.classJSON(code: code, plan: plan, steps: steps)
        queue = DispatchQueue(label: "classctl.relay.\(recording.classCode)")
        everyone = server.makeBroadcastGroup()
        participants = server.makeBroadcastGroup()
        view = Locked(PublicView(snapshot: Resume.rebuild(recording, now: wallClockMillis()).engine.snapshot))
    }

    public var title: String { plan.title }
    public func setLinkBase(_ base: @escaping @Sendable () -> String) { linkBase.withLock { $0 = base } }
    public func makeSocket(address: String) -> any WebSocketDelegate { ClassSocket(session: self, address: address) }
    public var publicView: PublicView { view.withLock { $0 } }

    public func snapshotJSON() -> String {
        ServerMessage.snapshot(classJSON: classJSON, view: publicView, serverTime: wallClockMillis())
    }

    private func memberID(_ c: Connection) -> UInt64 { MemberID.make(node: node, connection: c.id) }
    private func uplink(_ up: RelayUplink) { send(up, nil) }

    // MARK: From the class (any thread)

    public func deliver(_ envelope: RelayEnvelope) {
        queue.async { [self] in
            switch envelope {
            case .broadcast(let audience, let kind, let text):
                (audience == .everyone ? everyone : participants).broadcast(text: text, kind: kind)
                if audience == .everyone, text.starts(with: Self.statePrefix) { noteState(text) }
            case .member(let id, let kind, let text):
                guard MemberID.node(of: id) == node, let m = members[MemberID.connection(of: id)] else { return }
                if text.starts(with: Self.welcomePrefix) {
                    members[m.connection.id]?.welcomed = true
                    m.connection.send(text: ServerMessage.completingWelcome(text, classJSON: classJSON), kind: kind)
                    return
                }
                m.connection.send(text: text, kind: kind)
            case .role(let id, let role):
                guard MemberID.node(of: id) == node, let m = members[MemberID.connection(of: id)] else { return }
                counts[m.role] -= 1
                counts[role] += 1
                members[m.connection.id]?.role = role
                if role != .participant { participants.remove(m.connection) } else if m.role != .participant { participants.add(m.connection) }
                publishView()
            case .close(let id, let code, let reason):
                guard MemberID.node(of: id) == node, let m = members[MemberID.connection(of: id)] else { return }
                m.connection.close(code: code, reason: reason)
            case .owner(_, let fence):
                guard fence != ownerFence else { return }
                ownerFence = fence
                announceMembers()
            }
        }
    }

    /// This node was away from the class's channel (Redis reconnected): its phones are said
    /// again to whoever runs the class now, which sends the state again.
    public func resubscribed() {
        queue.async { [self] in announceMembers() }
    }

    /// Every phone here, to a new owner: those welcomed already rejoin, the others join; each
    /// one's last hello again (names, the instructor's token); then a resync. If that reached
    /// nobody (the owner's own subscription is not back yet), again a second later, for a while.
    private func announceMembers(attempt: Int = 0) {
        announcing += 1
        let round = announcing
        for (id, m) in members {
            let member = MemberID.make(node: node, connection: id)
            uplink(m.welcomed ? .rejoin(member: member, address: m.address) : .join(member: member, address: m.address))
            if let hello = m.hello { uplink(.message(member: member, raw: hello)) }
        }
        let list = members.keys.sorted().map { MemberID.make(node: node, connection: $0) }
        send(.resync(node: node, members: list)) { [weak self] received in
            guard let self, !received, attempt < 15 else { return }
            self.queue.asyncAfter(deadline: .now() + .seconds(1)) {
                // A newer announcement (a new owner) supersedes this retry.
                guard round == self.announcing else { return }
                self.announceMembers(attempt: attempt + 1)
            }
        }
    }
    private var announcing = 0

    private func welcomeHere(_ c: Connection) {
        guard members[c.id] != nil, members[c.id]?.welcomed == false else { return }
        let v = publicView, now = wallClockMillis()
        let base = linkBase.withLock { $0 }()
        c.send(text: ServerMessage.welcome(role: .participant, clientID: memberID(c), serverTime: now, classJSON: classJSON,
                                           state: ServerMessage.state(v.snapshot, serverTime: now, effectiveAt: nil),
                                           presence: ServerMessage.presence(participants: v.participants, instructors: v.instructors,
                                                                            done: 0, step: v.snapshot.stepIndex, names: nil),
                                           alerts: nil, joinLink: base.isEmpty ? nil : "\(base)/c/\(code)",
                                           summary: nil))
    }

    private static let statePrefix = Array(#"{"type":"state""#.utf8)
    private static let welcomePrefix = Array(#"{"type":"welcome""#.utf8)

    /// What HTTP routes show of the class: the state it last sent.
    private func noteState(_ text: [UInt8]) {
        guard let o = try? JSONSerialization.jsonObject(with: Data(text)) as? [String: Any] else { return }
        func int(_ k: String) -> Int64? { (o[k] as? NSNumber)?.int64Value }
        view.withLock { v in
            var s = v.snapshot
            s.seq = Int(int("seq") ?? Int64(s.seq))
            if let st = o["status"] as? String, let status = EngineStatus(rawValue: st) { s.status = status }
            s.stepIndex = int("step").map { Int($0) }
            s.stepStartedAt = int("stepStartedAt")
            s.stepEndsAt = int("stepEndsAt")
            s.pausedAt = int("pausedAt")
            s.classStartedAt = int("classStartedAt")
            s.finishedAt = int("finishedAt")
            if let at = int("effectiveAt") { s.at = at }
            v.snapshot = s
        }
    }

    /// From `counts`, kept with `members` (visiting every member on each join made joining
    /// thousands of phones quadratic).
    private func publishView() {
        view.withLock { $0.participants = counts[.participant]; $0.instructors = counts[.instructor] }
    }
}

extension ClassRelay: ClassSocketTarget {
    func join(_ c: Connection, address: String) {
        queue.async { [self] in
            if let old = members[c.id] { counts[old.role] -= 1 }
            members[c.id] = Local(connection: c, address: address)
            counts[.participant] += 1
            everyone.add(c)
            participants.add(c)
            publishView()
            send(.join(member: memberID(c), address: address)) { [weak self] received in
                guard let self, !received else { return }
                // Nobody runs the class this moment (a takeover, Redis away): the phone gets the
                // class and the last state known here at once, and follows the plan; the next
                // owner welcomes it properly (it is not marked welcomed).
                self.queue.async { self.welcomeHere(c) }
            }
        }
    }

    func leave(_ c: Connection) {
        queue.async { [self] in
            guard let old = members.removeValue(forKey: c.id) else { return }
            counts[old.role] -= 1
            publishView()
            uplink(.leave(member: memberID(c)))
        }
    }

    func receive(_ message: ClientMessage, raw: [UInt8], from c: Connection) {
        queue.async { [self] in
            guard members[c.id] != nil else { return }
            if case .hello = message { members[c.id]?.hello = raw }
            // An instructor's command or a stop signal that reaches nobody (the class's node is
            // being replaced, Redis is away) is not made: say so at once rather than leave the
            // sender waiting.
            let unheard: String
            if message.requiredRole == .instructor {
                unheard = "The class cannot be reached right now (a server is being replaced, or its store is away), so this was not made. Try again in a moment."
            } else if case .stop(on: true) = message {
                unheard = "Not connected: the instructor was not told. Stop anyway and wave to them."
            } else {
                uplink(.message(member: memberID(c), raw: raw))
                return
            }
            send(.message(member: memberID(c), raw: raw)) { received in
                guard !received else { return }
                c.send(text: ServerMessage.error("not-saved", unheard))
            }
        }
    }
}

/// How many members have each role.
struct RoleCounts {
    private var counts: [Int] = [0, 0, 0]
    private static func slot(_ r: Role) -> Int {
        switch r { case .participant: 0; case .instructor: 1; case .watcher: 2 }
    }
    subscript(_ r: Role) -> Int {
        get { counts[Self.slot(r)] }
        set { counts[Self.slot(r)] = newValue }
    }
}
