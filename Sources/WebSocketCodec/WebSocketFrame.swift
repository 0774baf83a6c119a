// RFC 6455 §5.2 base framing: the encoder for outgoing frames and a pure, incremental decoder.

public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10

    /// Control frames (close, ping, pong) have the high bit of the opcode set (§5.5).
    public var isControl: Bool { rawValue & 0x08 != 0 }
}

/// Close status codes used by this codec (RFC 6455 §7.4.1).
public enum WebSocketCloseCode {
    public static let normal: UInt16 = 1000
    public static let goingAway: UInt16 = 1001
    public static let protocolError: UInt16 = 1002
    public static let unsupportedData: UInt16 = 1003
    public static let invalidPayload: UInt16 = 1007
    public static let policyViolation: UInt16 = 1008
    public static let messageTooBig: UInt16 = 1009
    public static let internalError: UInt16 = 1011
    /// The server restarts: come back (a deploy; the class resumes).
    public static let serviceRestart: UInt16 = 1012
    /// Overloaded (a studio server past its phone limit): try again later.
    public static let tryAgainLater: UInt16 = 1013

    /// Whether a peer may send this code in a close frame. 1004-1006 and 1015 are reserved or
    /// local-only; 1012-1014 are registered with IANA (restart, try again later, bad gateway);
    /// 1016-2999 are unassigned; 3000-4999 are for libraries and applications (§7.4.2).
    public static func isValidOnWire(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }
}

/// Encodes server frames (unmasked) and, for test and benchmark clients, masked frames.
public enum WebSocketFrameEncoder {
    /// Header length for a payload of this size: 2, 4 or 10 bytes (+4 when masked).
    @inline(__always)
    static func headerLength(payloadCount: Int, masked: Bool) -> Int {
        let base = payloadCount < 126 ? 2 : (payloadCount <= 0xFFFF ? 4 : 10)
        return masked ? base + 4 : base
    }

    /// Writes the header at `out` and returns its length.
    @inline(__always)
    static func writeHeader(_ out: UnsafeMutablePointer<UInt8>, opcode: WebSocketOpcode, payloadCount: Int, fin: Bool, rsv1: Bool, masked: Bool) -> Int {
        out[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode.rawValue
        let maskBit: UInt8 = masked ? 0x80 : 0
        if payloadCount < 126 {
            out[1] = maskBit | UInt8(payloadCount)
            return 2
        } else if payloadCount <= 0xFFFF {
            out[1] = maskBit | 126
            out[2] = UInt8(payloadCount >> 8)
            out[3] = UInt8(truncatingIfNeeded: payloadCount)
            return 4
        } else {
            out[1] = maskBit | 127
            let n = UInt64(payloadCount)
            for i in 0..<8 { out[2 + i] = UInt8(truncatingIfNeeded: n >> UInt64(56 - 8 * i)) }
            return 10
        }
    }

    /// One server frame (unmasked): header + payload in a new buffer. `rsv1` marks the first
    /// frame of a compressed message (RFC 7692 §6).
    public static func encode(opcode: WebSocketOpcode, payload: UnsafeRawBufferPointer, fin: Bool = true, rsv1: Bool = false) -> [UInt8] {
        let total = headerLength(payloadCount: payload.count, masked: false) + payload.count
        return [UInt8](unsafeUninitializedCapacity: total) { buf, initialized in
            guard let base = buf.baseAddress else { initialized = 0; return }
            let h = writeHeader(base, opcode: opcode, payloadCount: payload.count, fin: fin, rsv1: rsv1, masked: false)
            if let src = payload.baseAddress, payload.count > 0 {
                (base + h).initialize(from: src.assumingMemoryBound(to: UInt8.self), count: payload.count)
            }
            initialized = total
        }
    }

    public static func encode(opcode: WebSocketOpcode, payload: [UInt8], fin: Bool = true, rsv1: Bool = false) -> [UInt8] {
        payload.withUnsafeBytes { encode(opcode: opcode, payload: $0, fin: fin, rsv1: rsv1) }
    }

    /// The payload of a close frame: 2-byte code then the UTF-8 reason, cut to fit the
    /// 125-byte control frame limit without splitting a character.
    public static func closePayload(code: UInt16, reason: String) -> [UInt8] {
        var out: [UInt8] = [UInt8(code >> 8), UInt8(truncatingIfNeeded: code)]
        var reasonBytes = Array(reason.utf8)
        if reasonBytes.count > 123 {
            var cut = 123
            while cut > 0 && reasonBytes[cut] & 0xC0 == 0x80 { cut -= 1 }   // don't split a code point
            reasonBytes.removeSubrange(cut...)
        }
        out.append(contentsOf: reasonBytes)
        return out
    }

    /// A client frame: masked with `maskKey` as RFC 6455 §5.3 requires of clients.
    public static func encodeMasked(opcode: WebSocketOpcode, payload: [UInt8], maskKey: (UInt8, UInt8, UInt8, UInt8), fin: Bool = true, rsv1: Bool = false) -> [UInt8] {
        let total = headerLength(payloadCount: payload.count, masked: true) + payload.count
        return [UInt8](unsafeUninitializedCapacity: total) { buf, initialized in
            guard let base = buf.baseAddress else { initialized = 0; return }
            var h = writeHeader(base, opcode: opcode, payloadCount: payload.count, fin: fin, rsv1: rsv1, masked: true)
            let key = [maskKey.0, maskKey.1, maskKey.2, maskKey.3]
            for k in key { base[h] = k; h += 1 }
            for i in 0..<payload.count { base[h + i] = payload[i] ^ key[i & 3] }
            initialized = total
        }
    }
}

/// A decoded frame header (RFC 6455 §5.2).
public struct WebSocketFrameHeader: Sendable, Equatable {
    public var fin: Bool
    public var rsv1: Bool
    public var rsv2: Bool
    public var rsv3: Bool
    /// The raw 4-bit opcode; `opcode` is nil for the reserved values 3-7 and 11-15.
    public var opcodeValue: UInt8
    public var masked: Bool
    /// The masking key as it appears on the wire (first key byte in the lowest byte), 0 when unmasked.
    public var maskKey: UInt32
    public var payloadLength: UInt64

    public var opcode: WebSocketOpcode? { WebSocketOpcode(rawValue: opcodeValue) }
}

public enum WebSocketFrameDecoderError: Error, Sendable, Equatable {
    /// A 64-bit payload length with the most significant bit set (§5.2 forbids it).
    case invalidLength
}

/// Incremental frame decoder, in the style of swift-nio's: `state` names the place where it
/// waits, and `next` makes one step. It never copies the payload: it hands out slices of the
/// caller's input together with the mask phase, and the caller unmasks while copying
/// (`WebSocketFrameDecoder.unmask`). The only state kept between reads is a partial header
/// (at most 14 bytes, stored inline), so an idle decoder owns no heap memory.
///
/// It checks only what framing itself defines (the length encoding); what a frame may contain
/// in a given role and moment is up to the caller (see `WebSocketConnectionMachine`). It works
/// for both roles: a client sees `masked == false` on server frames.
public struct WebSocketFrameDecoder: Sendable {
    public enum Step {
        /// The input is exhausted; call again with more bytes.
        case needMoreData
        /// A complete header. Payload slices follow (none for an empty payload), then `.frameEnd`.
        case header(WebSocketFrameHeader)
        /// Part of the current frame's payload, still masked; `maskOffset` is the position of
        /// its first byte in the payload (mod 4) to pass to `unmask`.
        case payload(UnsafeRawBufferPointer, maskOffset: Int)
        /// The current frame's payload is complete.
        case frameEnd
    }

    private enum State: Sendable {
        case header              // collecting header bytes into `partial`
        case payload             // `remaining` payload bytes of `current` still to come
    }

    private var state: State = .header
    private var partial: (UInt64, UInt64) = (0, 0)   // header bytes received so far
    private var partialCount = 0
    private var current = WebSocketFrameHeader(fin: false, rsv1: false, rsv2: false, rsv3: false, opcodeValue: 0, masked: false, maskKey: 0, payloadLength: 0)
    private var remaining: UInt64 = 0

    public init() {}

    /// True between frames with no partial header: nothing is buffered.
    public var isAtFrameBoundary: Bool { state == .header && partialCount == 0 }

    /// Makes one step over `input`, starting at `index` and advancing it past what was consumed.
    public mutating func next(_ input: UnsafeRawBufferPointer, index: inout Int) throws(WebSocketFrameDecoderError) -> Step {
        switch state {
        case .payload:
            if remaining == 0 {
                state = .header
                return .frameEnd
            }
            let available = input.count &- index
            if available <= 0 { return .needMoreData }
            let take = UInt64(available) < remaining ? available : Int(remaining)
            let offset = Int((current.payloadLength &- remaining) & 3)
            let slice = UnsafeRawBufferPointer(rebasing: input[index..<(index &+ take)])
            index &+= take
            remaining &-= UInt64(take)
            return .payload(slice, maskOffset: offset)

        case .header:
            // Copy header bytes into `partial` until the header's full length is known and present.
            while true {
                let needed = headerLengthNeeded()
                if partialCount >= needed { break }
                guard index < input.count else { return .needMoreData }
                let take = min(needed &- partialCount, input.count &- index)
                withUnsafeMutableBytes(of: &partial) { p in
                    for i in 0..<take { p[partialCount &+ i] = input[index &+ i] }
                }
                partialCount &+= take
                index &+= take
            }
            let header = try parsePartial()
            partialCount = 0
            current = header
            remaining = header.payloadLength
            state = .payload
            return .header(header)
        }
    }

    /// How many header bytes are needed given what has been seen (2 until the length byte is known).
    private func headerLengthNeeded() -> Int {
        guard partialCount >= 2 else { return 2 }
        return withUnsafeBytes(of: partial) { p in
            let b1 = p[1]
            let len7 = b1 & 0x7F
            let ext = len7 == 126 ? 2 : (len7 == 127 ? 8 : 0)
            return 2 + ext + (b1 & 0x80 != 0 ? 4 : 0)
        }
    }

    private func parsePartial() throws(WebSocketFrameDecoderError) -> WebSocketFrameHeader {
        let parsed: WebSocketFrameHeader? = withUnsafeBytes(of: partial) { p in
            let b0 = p[0], b1 = p[1]
            let len7 = b1 & 0x7F
            var i = 2
            var length: UInt64
            if len7 == 126 {
                length = UInt64(p[2]) << 8 | UInt64(p[3]); i = 4
            } else if len7 == 127 {
                length = 0
                for j in 0..<8 { length = length << 8 | UInt64(p[2 + j]) }
                i = 10
                if length & (1 << 63) != 0 { return nil }
            } else {
                length = UInt64(len7)
            }
            let masked = b1 & 0x80 != 0
            var key: UInt32 = 0
            if masked { key = p.loadUnaligned(fromByteOffset: i, as: UInt32.self) }
            return WebSocketFrameHeader(fin: b0 & 0x80 != 0, rsv1: b0 & 0x40 != 0, rsv2: b0 & 0x20 != 0, rsv3: b0 & 0x10 != 0,
                                        opcodeValue: b0 & 0x0F, masked: masked, maskKey: key, payloadLength: length)
        }
        guard let parsed else { throw .invalidLength }
        return parsed
    }

    /// Appends `chunk` to `out`, XOR-ing it with the masking key starting at phase `maskOffset`
    /// (RFC 6455 §5.3). Works a word at a time: group 9 of Autobahn moves 16 MiB messages.
    public static func unmask(_ chunk: UnsafeRawBufferPointer, maskKey: UInt32, maskOffset: Int, appendingTo out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: chunk)
        guard maskKey != 0, chunk.count > 0 else { return }
        out.withUnsafeMutableBytes { all in
            let region = UnsafeMutableRawBufferPointer(rebasing: all[start...])
            unmaskInPlace(region, maskKey: maskKey, maskOffset: maskOffset)
        }
    }

    /// XORs `region` with the key in place; `maskOffset` is the payload position of region[0] mod 4.
    public static func unmaskInPlace(_ region: UnsafeMutableRawBufferPointer, maskKey: UInt32, maskOffset: Int) {
        // Rotate the key so that its first byte lines up with region[0] (key bytes are little-endian in memory order).
        let shift = UInt32((maskOffset & 3) * 8)
        let rotated = shift == 0 ? maskKey : (maskKey >> shift) | (maskKey << (32 - shift))
        let key64 = UInt64(rotated) | UInt64(rotated) << 32
        let n = region.count
        var i = 0
        while i &+ 8 <= n {
            let v = region.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            region.storeBytes(of: v ^ key64, toByteOffset: i, as: UInt64.self)
            i &+= 8
        }
        while i < n {
            region[i] ^= UInt8(truncatingIfNeeded: rotated >> UInt32((i & 3) * 8))
            i &+= 1
        }
    }
}
