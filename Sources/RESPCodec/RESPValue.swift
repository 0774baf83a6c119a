// RESP2 values (the Redis serialization protocol), their encoding, and the request encoder.
//
// Requests are arrays of bulk strings: `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n`. Replies
// begin with `+` (simple string), `-` (error), `:` (integer), `$` (bulk, `$-1` null) or `*`
// (array, `*-1` null). RESP3 (HELLO 3) is never asked for, so its types never arrive.

/// One reply (or part of one) from a Redis server.
public enum RESPValue: Equatable, Hashable, Sendable {
    /// `+OK`: a line of text without CR or LF.
    case simpleString(String)
    /// `-ERR unknown command`: the first word is the error's kind (ERR, WRONGTYPE, WRONGPASS...).
    case error(String)
    /// `:42`
    case integer(Int64)
    /// `$5\r\nhello`, binary-safe; nil for `$-1` (a missing key).
    case bulkString([UInt8]?)
    /// `*2\r\n...`; nil for `*-1` (e.g. a blocking pop that timed out).
    case array([RESPValue]?)

    /// The text of a simple or bulk string (bulk bytes decoded as UTF-8, invalid bytes replaced).
    public var string: String? {
        switch self {
        case .simpleString(let s): return s
        case .bulkString(let b?): return String(decoding: b, as: UTF8.self)
        default: return nil
        }
    }

    /// The bytes of a bulk or simple string.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let b?): return b
        case .simpleString(let s): return Array(s.utf8)
        default: return nil
        }
    }

    /// An integer reply, or a string holding a decimal integer (GET of a counter).
    public var int: Int64? {
        switch self {
        case .integer(let i): return i
        case .bulkString(let b?): return Int64(String(decoding: b, as: UTF8.self))
        case .simpleString(let s): return Int64(s)
        default: return nil
        }
    }

    /// The elements of a non-null array.
    public var array: [RESPValue]? {
        if case .array(let a?) = self { return a }
        return nil
    }

    /// `$-1` or `*-1`.
    public var isNull: Bool {
        switch self {
        case .bulkString(nil), .array(nil): return true
        default: return false
        }
    }

    /// The value in RESP2 wire form. Simple strings and errors are written as they are, so one
    /// holding CR or LF (which no parser produces) would not read back as itself.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    public func encode(into out: inout [UInt8]) {
        switch self {
        case .simpleString(let s):
            out.append(UInt8(ascii: "+")); out.append(contentsOf: s.utf8); out.append(contentsOf: crlf)
        case .error(let s):
            out.append(UInt8(ascii: "-")); out.append(contentsOf: s.utf8); out.append(contentsOf: crlf)
        case .integer(let i):
            out.append(UInt8(ascii: ":")); appendDecimal(i, to: &out); out.append(contentsOf: crlf)
        case .bulkString(nil):
            out.append(contentsOf: Array("$-1\r\n".utf8))
        case .bulkString(let b?):
            appendBulk(b, to: &out)
        case .array(nil):
            out.append(contentsOf: Array("*-1\r\n".utf8))
        case .array(let items?):
            out.append(UInt8(ascii: "*")); appendDecimal(Int64(items.count), to: &out); out.append(contentsOf: crlf)
            for item in items { item.encode(into: &out) }
        }
    }
}

private let crlf: [UInt8] = [13, 10]

@inline(__always)
private func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
    out.append(contentsOf: String(value).utf8)
}

@inline(__always)
private func appendBulk<C: Collection>(_ bytes: C, to out: inout [UInt8]) where C.Element == UInt8 {
    out.append(UInt8(ascii: "$")); appendDecimal(Int64(bytes.count), to: &out); out.append(contentsOf: crlf)
    out.append(contentsOf: bytes); out.append(contentsOf: crlf)
}

/// Encodes requests: a command is an array of bulk strings, which is all a server accepts
/// from a client besides inline commands (never used here).
public enum RESPRequest {
    /// `["SET", "k", "v"]` → `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n`.
    public static func encode(_ arguments: [String]) -> [UInt8] {
        var out: [UInt8] = []
        append(arguments, to: &out)
        return out
    }

    /// Binary arguments (payloads that are not text).
    public static func encode(_ arguments: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        append(arguments, to: &out)
        return out
    }

    public static func append(_ arguments: [String], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "*")); appendDecimal(Int64(arguments.count), to: &out); out.append(contentsOf: crlf)
        for a in arguments { appendBulk(a.utf8, to: &out) }
    }

    public static func append(_ arguments: [[UInt8]], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "*")); appendDecimal(Int64(arguments.count), to: &out); out.append(contentsOf: crlf)
        for a in arguments { appendBulk(a, to: &out) }
    }
}

/// The reply to `TIME`: the Redis server's wall clock as seconds and microseconds since the
/// Unix epoch, both bulk strings (`*2\r\n$10\r\n1700000000\r\n$6\r\n123456\r\n`). The cluster
/// uses it as its clock reference.
public struct RedisTime: Equatable, Sendable {
    public var seconds: Int64
    /// 0...999_999
    public var microseconds: Int64

    public init(seconds: Int64, microseconds: Int64) {
        self.seconds = seconds
        self.microseconds = microseconds
    }

    /// Nil unless `reply` is an array of exactly two decimal strings (or integers) with the
    /// microseconds in 0...999999 and the seconds not negative.
    public init?(reply: RESPValue) {
        guard let items = reply.array, items.count == 2,
              let s = items[0].int, let us = items[1].int,
              s >= 0, s <= Int64.max / 1_000_000 - 1, (0...999_999).contains(us) else { return nil }
        seconds = s
        microseconds = us
    }

    /// Milliseconds since the epoch, rounded down (the unit of the class's server time).
    public var milliseconds: Int64 { seconds * 1000 + microseconds / 1000 }
    /// Microseconds since the epoch.
    public var totalMicroseconds: Int64 { seconds * 1_000_000 + microseconds }
}
