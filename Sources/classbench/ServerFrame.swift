import WebSocketCodec

/// What a client must refuse in a server's frame (RFC 6455 sections 5.1-5.5). The
/// codec's `WebSocketFrameDecoder` checks only the length encoding and leaves these
/// role-specific rules to its caller.
enum ServerFrameRules {
    enum Violation: Error, Equatable, CustomStringConvertible {
        case masked
        case reservedBits
        case unknownOpcode(UInt8)
        case badControlFrame
        case tooLarge(UInt64)

        var description: String {
            switch self {
            case .masked: "server frame is masked (RFC 6455 5.1 forbids it)"
            case .reservedBits: "reserved bits set without a negotiated extension"
            case .unknownOpcode(let op): "unknown opcode 0x\(String(op, radix: 16))"
            case .badControlFrame: "fragmented, compressed or oversized control frame"
            case .tooLarge(let n): "frame payload of \(n) bytes exceeds the limit"
            }
        }
    }

    /// Largest payload accepted; bigger lengths are hostile or broken input.
    static let maxPayload: UInt64 = 64 << 20

    /// Checks a decoded header; `deflate` (permessage-deflate negotiated) allows RSV1.
    static func check(_ header: WebSocketFrameHeader, deflate: Bool) throws(Violation) {
        if header.masked { throw .masked }
        if header.rsv2 || header.rsv3 || (header.rsv1 && !deflate) { throw .reservedBits }
        guard let opcode = header.opcode else { throw .unknownOpcode(header.opcodeValue) }
        if opcode.isControl && (!header.fin || header.rsv1 || header.payloadLength > 125) { throw .badControlFrame }
        if header.payloadLength > maxPayload { throw .tooLarge(header.payloadLength) }
    }
}
