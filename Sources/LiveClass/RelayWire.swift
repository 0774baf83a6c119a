// What a class's relays and its owner say to each other in a cluster (docs/cluster.md):
// relays send their phones' comings, goings and messages up (`RelayUplink`), the owner sends
// each change down once (`RelayEnvelope`), and every relay fans it out to its own phones.
// Pure codecs, transport-free: ClassCluster carries them over Redis pub/sub.
//
// Both are one header line of space-separated ASCII fields, a newline, then the payload as
// is (a message's JSON text, never re-escaped):
//   up:    JOIN <member> \n <address>      REJOIN <member> \n <address>     LEAVE <member> \n
//          MSG <member> \n <json>          RESYNC <node> \n <member>,<member>,…
//   down:  ALL s|o \n <json>               REST s|o \n <json>   (the participants)
//          TO <member> s|o \n <json>       ROLE <member> <role> \n
//          CLOSE <member> <code> \n <reason>          OWNER <node> <fence> \n
import NetServer

/// A member id in a cluster: the node's number in the high bits, the connection's id on that
/// node in the low 40 (unique while both are; below 2^53, so exact in JavaScript numbers).
public enum MemberID {
    public static let connectionBits: UInt64 = 40
    public static let maxNode: UInt64 = 8_000
    public static func make(node: UInt64, connection: UInt64) -> UInt64 {
        (node << connectionBits) | (connection & ((1 << connectionBits) - 1))
    }
    public static func node(of id: UInt64) -> UInt64 { id >> connectionBits }
    public static func connection(of id: UInt64) -> UInt64 { id & ((1 << connectionBits) - 1) }
}

public enum RelayUplink: Equatable, Sendable {
    /// A phone connected to the relay: the owner welcomes it.
    case join(member: UInt64, address: String)
    /// A phone an earlier owner already welcomed (the owner changed): registered, not welcomed again.
    case rejoin(member: UInt64, address: String)
    case leave(member: UInt64)
    /// A phone's message (not `time`, which the relay answers), as the phone sent it.
    case message(member: UInt64, raw: [UInt8])
    /// A relay that may have missed changes (it was away from Redis), with every phone it has:
    /// send the state again, and forget that node's phones not in the list.
    case resync(node: UInt64, members: [UInt64])

    public func encoded() -> [UInt8] {
        switch self {
        case .join(let m, let a): return Array("JOIN \(m)\n\(a)".utf8)
        case .rejoin(let m, let a): return Array("REJOIN \(m)\n\(a)".utf8)
        case .leave(let m): return Array("LEAVE \(m)\n".utf8)
        case .message(let m, let raw): return Array("MSG \(m)\n".utf8) + raw
        case .resync(let n, let members): return Array("RESYNC \(n)\n\(members.map(String.init).joined(separator: ","))".utf8)
        }
    }

    public static func decode(_ bytes: [UInt8]) -> RelayUplink? {
        guard let (fields, payload) = splitHeader(bytes), fields.count == 2, let n = UInt64(fields[1]) else { return nil }
        switch fields[0] {
        case "JOIN": return .join(member: n, address: String(decoding: payload, as: UTF8.self))
        case "REJOIN": return .rejoin(member: n, address: String(decoding: payload, as: UTF8.self))
        case "LEAVE": return .leave(member: n)
        case "MSG": return .message(member: n, raw: Array(payload))
        case "RESYNC":
            let list = payload.split(separator: 0x2C).compactMap { UInt64(String(decoding: $0, as: UTF8.self)) }
            return .resync(node: n, members: list)
        default: return nil
        }
    }
}

public enum RelayEnvelope: Equatable, Sendable {
    case broadcast(Audience, kind: OutboundKind, text: [UInt8])
    case member(UInt64, kind: OutboundKind, text: [UInt8])
    /// The owner gave a member a role: relays keep instructors out of `.participants`.
    case role(UInt64, Role)
    case close(UInt64, code: UInt16, reason: String)
    /// A node took the class over (its lease's fence): relays announce their phones to it.
    case owner(node: UInt64, fence: Int64)

    public func encoded() -> [UInt8] {
        func k(_ kind: OutboundKind) -> String { kind == .supersedable ? "s" : "o" }
        switch self {
        case .broadcast(.everyone, let kind, let text): return Array("ALL \(k(kind))\n".utf8) + text
        case .broadcast(.participants, let kind, let text): return Array("REST \(k(kind))\n".utf8) + text
        case .member(let m, let kind, let text): return Array("TO \(m) \(k(kind))\n".utf8) + text
        case .role(let m, let role): return Array("ROLE \(m) \(role.rawValue)\n".utf8)
        case .close(let m, let code, let reason): return Array("CLOSE \(m) \(code)\n\(reason)".utf8)
        case .owner(let node, let fence): return Array("OWNER \(node) \(fence)\n".utf8)
        }
    }

    public static func decode(_ bytes: [UInt8]) -> RelayEnvelope? {
        guard let (f, payload) = splitHeader(bytes), let first = f.first else { return nil }
        func kind(_ s: String) -> OutboundKind? { s == "s" ? .supersedable : s == "o" ? .ordinary : nil }
        switch (first, f.count) {
        case ("ALL", 2): return kind(f[1]).map { .broadcast(.everyone, kind: $0, text: Array(payload)) }
        case ("REST", 2): return kind(f[1]).map { .broadcast(.participants, kind: $0, text: Array(payload)) }
        case ("TO", 3):
            guard let m = UInt64(f[1]), let kd = kind(f[2]) else { return nil }
            return .member(m, kind: kd, text: Array(payload))
        case ("ROLE", 3):
            guard let m = UInt64(f[1]), let r = Role(rawValue: f[2]) else { return nil }
            return .role(m, r)
        case ("CLOSE", 3):
            guard let m = UInt64(f[1]), let code = UInt16(f[2]) else { return nil }
            return .close(m, code: code, reason: String(decoding: payload, as: UTF8.self))
        case ("OWNER", 3):
            guard let n = UInt64(f[1]), let fence = Int64(f[2]) else { return nil }
            return .owner(node: n, fence: fence)
        default: return nil
        }
    }
}

/// The header's fields and the payload after the first newline; nil without a newline or
/// with a header over 128 bytes.
private func splitHeader(_ bytes: [UInt8]) -> ([String], ArraySlice<UInt8>)? {
    guard let nl = bytes.prefix(129).firstIndex(of: 0x0A) else { return nil }
    let fields = bytes[..<nl].split(separator: 0x20).map { String(decoding: $0, as: UTF8.self) }
    return (fields, bytes[(nl + 1)...])
}
