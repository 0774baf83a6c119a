// Who runs a class: one node's view of the class's lease, as a small pure state machine the
// control loop feeds with what Redis answered (unit-tested without Redis).
//
//   relay ──lease absent `graceChecks` times (at once if this node ran it last)──▶ acquire
//   acquire ──won (fence f)──▶ owner(f) ──renewed──▶ owner(f)
//   owner(f) ──renewal refused (expired, or another node's) or a write fenced──▶ relay
//   owner(f) ──Redis silent──▶ owner(f): nobody else can take it meanwhile, and every write
//                               checks the fence, so an owner that was cut off learns it at once
public struct LeaseTracker: Sendable, Equatable {
    public enum Decision: Sendable, Equatable {
        case none
        /// Try to take the lease (SET NX, and the fence INCR).
        case acquire
        /// Stop running the class here: the lease is gone or another node's.
        case stepDown
    }

    /// Observations of an absent lease before a node that did not run the class last tries
    /// to take it: the previous owner (back from a Redis outage) gets the first go.
    public let graceChecks: Int
    /// The fence of this node's lease, while it runs the class.
    public private(set) var fence: Int64?
    /// This node ran the class last (and nobody else took it since).
    public private(set) var ranLast = false
    private var absentSeen = 0

    public init(graceChecks: Int = 2) { self.graceChecks = max(1, graceChecks) }

    public var isOwner: Bool { fence != nil }

    /// The lease's value while this node holds it: `<node>:<fence>`.
    public func leaseValue(node: UInt64) -> String? { fence.map { "\(node):\($0)" } }

    /// Not owner: what the lease key holds (nil: nobody).
    public mutating func observed(holder: String?, node: UInt64) -> Decision {
        guard fence == nil else { return .none }
        guard let holder else {
            absentSeen += 1
            return ranLast || absentSeen >= graceChecks ? .acquire : .none
        }
        absentSeen = 0
        if !holder.hasPrefix("\(node):") { ranLast = false }
        return .none
    }

    public mutating func acquired(fence: Int64) {
        self.fence = fence
        ranLast = true
        absentSeen = 0
    }

    /// Owner: the renewal's answer (true renewed, false refused, nil no answer from Redis).
    public mutating func renewal(_ renewed: Bool?) -> Decision {
        guard fence != nil else { return .none }
        if renewed == false {
            fence = nil
            return .stepDown
        }
        return .none
    }

    /// A write was refused for a stale fence: another node runs the class.
    public mutating func fenced() -> Decision {
        guard fence != nil else { return .none }
        fence = nil
        ranLast = false
        return .stepDown
    }

    /// This node let the class go (shutting down): it is no longer the one to prefer.
    public mutating func released() {
        fence = nil
        ranLast = false
        absentSeen = 0
    }
}
