/// Zero-copy parsing of the frames a server sends (RFC 6455 section 5.2).
///
/// The benchmark's receive path handles several hundred thousand frames per second
/// in one thread, so it reads headers straight out of the receive buffer instead of
/// copying each payload into a new array; the codec's decoder is used for tests
/// and for the publisher's (low-volume) encoding.
struct ServerFrameHeader: Equatable, Sendable {
    var fin: Bool
    var rsv1: Bool
    var opcode: UInt8
    /// Offset of the payload from the start of the frame.
    var headerLength: Int
    var payloadLength: Int

    var frameLength: Int { headerLength + payloadLength }
    var isControl: Bool { opcode & 0x8 != 0 }

    enum Opcode {
        static let continuation: UInt8 = 0x0
        static let text: UInt8 = 0x1
        static let binary: UInt8 = 0x2
        static let close: UInt8 = 0x8
        static let ping: UInt8 = 0x9
        static let pong: UInt8 = 0xA
    }

    enum Failure: Error, Equatable, CustomStringConvertible {
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
            case .badControlFrame: "fragmented or oversized control frame"
            case .tooLarge(let n): "frame payload of \(n) bytes exceeds the limit"
            }
        }
    }

    /// Largest payload accepted; bigger lengths are hostile or broken input.
    static let maxPayload: UInt64 = 64 << 20

    /// Parses the header at the start of `bytes`. Returns nil when more bytes are
    /// needed for the header itself (the payload may still be incomplete: compare
    /// `frameLength` with what is buffered). `deflate` allows RSV1.
    static func parse(_ bytes: UnsafeRawBufferPointer, deflate: Bool) throws -> ServerFrameHeader? {
        guard bytes.count >= 2 else { return nil }
        let b0 = bytes[0], b1 = bytes[1]
        if b1 & 0x80 != 0 { throw Failure.masked }
        let rsv1 = b0 & 0x40 != 0
        if b0 & 0x30 != 0 || (rsv1 && !deflate) { throw Failure.reservedBits }
        let opcode = b0 & 0x0F
        switch opcode {
        case Opcode.continuation, Opcode.text, Opcode.binary, Opcode.close, Opcode.ping, Opcode.pong: break
        default: throw Failure.unknownOpcode(opcode)
        }
        var length = UInt64(b1 & 0x7F)
        var headerLength = 2
        if length == 126 {
            guard bytes.count >= 4 else { return nil }
            length = UInt64(bytes[2]) << 8 | UInt64(bytes[3])
            headerLength = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return nil }
            length = 0
            for i in 2..<10 { length = length << 8 | UInt64(bytes[i]) }
            headerLength = 10
        }
        let fin = b0 & 0x80 != 0
        if opcode & 0x8 != 0 && (!fin || length > 125 || rsv1) { throw Failure.badControlFrame }
        // Checked before converting to Int, so a hostile 2^63 length cannot trap.
        if length > maxPayload { throw Failure.tooLarge(length) }
        return ServerFrameHeader(fin: fin, rsv1: rsv1, opcode: opcode, headerLength: headerLength, payloadLength: Int(length))
    }
}

/// Encodes a masked client frame (FIN set), as every client-to-server frame must be.
func maskedClientFrame(opcode: UInt8, payload: [UInt8], maskKey: UInt32) -> [UInt8] {
    var frame: [UInt8] = []
    frame.reserveCapacity(payload.count + 14)
    frame.append(0x80 | opcode)
    let count = payload.count
    if count < 126 {
        frame.append(0x80 | UInt8(count))
    } else if count <= 0xFFFF {
        frame.append(0x80 | 126)
        frame.append(UInt8(count >> 8))
        frame.append(UInt8(count & 0xFF))
    } else {
        frame.append(0x80 | 127)
        for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8(truncatingIfNeeded: UInt64(count) >> UInt64(shift))) }
    }
    let mask: [UInt8] = [UInt8(truncatingIfNeeded: maskKey >> 24), UInt8(truncatingIfNeeded: maskKey >> 16),
                         UInt8(truncatingIfNeeded: maskKey >> 8), UInt8(truncatingIfNeeded: maskKey)]
    frame += mask
    for (i, byte) in payload.enumerated() { frame.append(byte ^ mask[i & 3]) }
    return frame
}
