// What a ClassSession needs of its members, its fan-out and its recording, as small
// protocols: on one node they are a phone's Connection, the class's BroadcastGroup and the
// recording file; in a cluster (ClassCluster) they are phones on other nodes reached through
// Redis, one PUBLISH per change, and a Redis stream.
import Foundation
import NetServer
import ClassPlan
import ClassEngine

/// One member of a class as its session sees it. Any thread.
public protocol ClassMember: AnyObject, Sendable {
    /// Unique in the class (a cluster puts the node number in the high bits).
    var id: UInt64 { get }
    func send(text: String, kind: OutboundKind)
    func send(text: [UInt8], kind: OutboundKind)
    func close(code: UInt16, reason: String)
    /// The session gave the member this role (a relay addresses instructors apart).
    func roleChanged(_ role: Role)
    /// Its welcome may carry the class as `ServerMessage.classPlaceholder`: a cluster's relay,
    /// which knows the class, puts it in, so a join costs Redis a small message, not the plan.
    var takesClassByReference: Bool { get }
}

extension ClassMember {
    public var takesClassByReference: Bool { false }
    func send(text: String) { send(text: text, kind: .ordinary) }
    func send(text: [UInt8]) { send(text: text, kind: .ordinary) }
}

extension Connection: ClassMember {
    public func roleChanged(_ role: Role) {}
}

/// Who a broadcast goes to.
public enum Audience: Sendable, Equatable {
    case everyone
    /// The participants only (presence as a count; consoles and watchers get it with names).
    case participants
}

/// How a session reaches all its members at once. Called on the class queue.
public protocol ClassFanout: Sendable {
    /// A member joined (a local connection joins the broadcast group).
    func joined(_ member: any ClassMember)
    func broadcast(text: [UInt8], kind: OutboundKind, to audience: Audience)
    /// The session gave a member a role (a console or watcher leaves the `.participants` audience).
    func roleChanged(_ member: any ClassMember, to role: Role)
    /// Whether `.participants` works; if not the session sends those messages one by one.
    var addressesAudiences: Bool { get }
}

extension ClassFanout {
    public func roleChanged(_ member: any ClassMember, to role: Role) {}
}

/// One node: the class's broadcast groups, each message framed once. `everyone` has every
/// member; `participants` the participants only, so presence (a count for phones, names for
/// consoles and watchers, sent one by one) is one broadcast rather than a send per phone.
struct GroupFanout: ClassFanout {
    let everyone: BroadcastGroup
    let participants: BroadcastGroup
    func joined(_ member: any ClassMember) {
        guard let c = member as? Connection else { return }
        everyone.add(c)
        participants.add(c)
    }
    func roleChanged(_ member: any ClassMember, to role: Role) {
        guard let c = member as? Connection else { return }
        if role == .participant { participants.add(c) } else { participants.remove(c) }
    }
    func broadcast(text: [UInt8], kind: OutboundKind, to audience: Audience) {
        switch audience {
        case .everyone: everyone.broadcast(text: text, kind: kind)
        case .participants: participants.broadcast(text: text, kind: kind)
        }
    }
    var addressesAudiences: Bool { true }
}

/// A sink's refusal because another process runs the class now (a cluster's fence): the
/// session stops answering at once, the other one answers instead.
public struct RecordingSuperseded: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "another node runs this class now" }
}

/// Where a class's events are stored. Used only on the class queue.
public protocol RecordingSink: AnyObject {
    /// For logs and the banner (a file path, `redis://…#CODE`).
    var location: String { get }
    /// True: an event that cannot be stored is refused, and the change it records is not made
    /// (a cluster: "no acknowledged command lost"). False: the class goes on unrecorded.
    var required: Bool { get }
    func append(_ event: RecordedEvent) throws
    func close() throws
    /// The sink for a new run of the same class ("Run again").
    func newRun(plan: ClassPlan, steps: [Step], classCode: String, startedAt: Int64, instructorTokenHash: String?) throws -> any RecordingSink
}

/// The recording file (fsynced per event).
final class FileRecordingSink: RecordingSink {
    let writer: RecordingWriter
    init(_ writer: RecordingWriter) { self.writer = writer }
    var location: String { writer.fileURL.path }
    var required: Bool { false }
    func append(_ event: RecordedEvent) throws { try writer.append(event) }
    func close() throws { try writer.close() }
    func newRun(plan: ClassPlan, steps: [Step], classCode: String, startedAt: Int64, instructorTokenHash: String?) throws -> any RecordingSink {
        FileRecordingSink(try RecordingWriter(directory: writer.fileURL.deletingLastPathComponent(), plan: plan, steps: steps,
                                              classCode: classCode, startedAt: startedAt, instructorTokenHash: instructorTokenHash))
    }
}
