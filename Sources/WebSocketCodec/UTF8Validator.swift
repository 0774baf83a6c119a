/// Streaming UTF-8 validator (RFC 3629) for text messages that arrive in fragments.
///
/// It keeps only the constraint on the next byte, so a message can be validated chunk by chunk
/// and an invalid sequence is reported at the first byte that makes it invalid (RFC 6455 §8.1:
/// fail fast, even in the middle of a fragment). Overlongs, surrogates (U+D800...U+DFFF) and
/// code points above U+10FFFF are rejected by the ranges allowed for the second byte.
public struct UTF8Validator: Sendable, Equatable {
    /// Continuation bytes still expected for the current code point.
    private var pending: UInt8 = 0
    /// Allowed range of the next continuation byte (narrower than 0x80...0xBF right after some lead bytes).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    public init() {}

    /// True when no code point is half-way through: the message may end here.
    public var isComplete: Bool { pending == 0 }

    /// Validates the next chunk. Returns false at the first invalid byte; the state is then meaningless.
    public mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = bytes.count
        while i < n {
            if pending == 0 {
                // Fast path: skip 8 ASCII bytes at a time.
                while i &+ 8 <= n, bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                    i &+= 8
                }
                if i >= n { break }
                let b = bytes[i]
                i &+= 1
                if b < 0x80 { continue }
                switch b {
                case 0xC2...0xDF: pending = 1; lower = 0x80; upper = 0xBF
                case 0xE0: pending = 2; lower = 0xA0; upper = 0xBF          // no overlongs
                case 0xE1...0xEC, 0xEE, 0xEF: pending = 2; lower = 0x80; upper = 0xBF
                case 0xED: pending = 2; lower = 0x80; upper = 0x9F          // no surrogates
                case 0xF0: pending = 3; lower = 0x90; upper = 0xBF          // no overlongs
                case 0xF1...0xF3: pending = 3; lower = 0x80; upper = 0xBF
                case 0xF4: pending = 3; lower = 0x80; upper = 0x8F          // nothing above U+10FFFF
                default: return false                                       // 0x80...0xC1, 0xF5...0xFF
                }
            } else {
                let b = bytes[i]
                i &+= 1
                guard b >= lower && b <= upper else { return false }
                pending &-= 1
                lower = 0x80; upper = 0xBF
            }
        }
        return true
    }

    public mutating func validate(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { validate($0) }
    }

    /// Validates a complete byte sequence.
    public static func isValid(_ bytes: [UInt8]) -> Bool {
        var v = UTF8Validator()
        return v.validate(bytes) && v.isComplete
    }
}
