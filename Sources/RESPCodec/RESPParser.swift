// Incremental RESP2 reply parser: bytes in (in pieces of any size), whole replies or an error
// out. Pure: no sockets, no Dispatch.
//
// Shape (after swift-nio's frame decoder): the parser remembers where it waits — in a line,
// in a bulk string's body, inside arrays (a stack of partly filled arrays) — so bytes are
// looked at once however they are split, and a reply of a million elements that arrives one
// byte at a time costs no more than one that arrives whole. The result never depends on how
// the bytes were split: the fuzz target (Fuzz/resp-parser) checks exactly that.
//
// A server is trusted for correctness of replies, not for their size: every length is checked
// against `RESPLimits` before anything is allocated, so a broken or hostile server (or a
// man-in-the-middle on an unencrypted link) cannot make the client allocate gigabytes by
// announcing them, or recurse without bound. Memory only grows with bytes actually received.

/// Bounds on what one reply may hold.
public struct RESPLimits: Equatable, Sendable {
    /// Largest bulk string. Redis's own `proto-max-bulk-len` is 512 MB; a class's values are
    /// a few KiB, so 64 MiB leaves room and still bounds the damage.
    public var maxBulkBytes = 64 << 20
    /// Most elements in one array (each nested array counts on its own).
    public var maxArrayCount = 1 << 20
    /// Deepest nesting of arrays: a top-level array is depth 1. Redis's deepest replies
    /// (XREAD, XINFO, EXEC of those) stay under 8.
    public var maxDepth = 32
    /// Longest line (`+`, `-`, `:`, and the length lines of `$`/`*`), type byte included,
    /// CRLF not. Error messages are the longest lines Redis sends.
    public var maxLineBytes = 64 << 10

    public init() {}

    public init(maxBulkBytes: Int, maxArrayCount: Int, maxDepth: Int, maxLineBytes: Int) {
        self.maxBulkBytes = maxBulkBytes
        self.maxArrayCount = maxArrayCount
        self.maxDepth = maxDepth
        self.maxLineBytes = maxLineBytes
    }
}

/// Why the bytes are not a RESP2 reply. After one, the stream cannot be resynchronized:
/// the connection must be dropped.
public struct RESPError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// The first byte of a value is not `+ - : $ *`.
        case unknownType(UInt8)
        /// A RESP3 type (`_ , # ( ! = % ~ > | ` etc.): the server speaks RESP3, which is never asked for.
        case resp3Type(UInt8)
        /// No LF within `maxLineBytes` (+2) bytes of a line's start.
        case lineTooLong(limit: Int)
        /// A line ended by LF without CR, or holding a CR.
        case badLineEnding
        /// `:` followed by something that is not a 64-bit decimal integer.
        case badInteger
        /// A `$` or `*` length that is not -1 or a decimal count.
        case badLength
        case bulkTooLong(length: Int64, limit: Int)
        case arrayTooLong(count: Int64, limit: Int)
        case tooDeep(limit: Int)
        /// The bytes after a bulk string's body are not CRLF (the length was wrong).
        case badBulkTerminator
    }

    public let kind: Kind
    /// Offset in the whole stream (bytes since the parser was made) of the value at fault.
    public let offset: Int

    public init(_ kind: Kind, offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    public var description: String {
        let what: String
        switch kind {
        case .unknownType(let b): what = "unknown reply type byte \(RESPError.show(b))"
        case .resp3Type(let b): what = "RESP3 reply type \(RESPError.show(b)) (only RESP2 is supported)"
        case .lineTooLong(let limit): what = "line longer than \(limit) bytes"
        case .badLineEnding: what = "line not ended by CRLF"
        case .badInteger: what = "malformed integer"
        case .badLength: what = "malformed length"
        case .bulkTooLong(let n, let limit): what = "bulk string of \(n) bytes exceeds the limit of \(limit)"
        case .arrayTooLong(let n, let limit): what = "array of \(n) elements exceeds the limit of \(limit)"
        case .tooDeep(let limit): what = "arrays nested deeper than \(limit)"
        case .badBulkTerminator: what = "bulk string not followed by CRLF"
        }
        return "RESP protocol error at byte \(offset): \(what)"
    }

    private static func show(_ b: UInt8) -> String {
        (0x21...0x7E).contains(b) ? "'\(Character(Unicode.Scalar(b)))'" : "0x" + String(b, radix: 16, uppercase: true)
    }
}

/// Feed bytes with `append`, then call `next()` until it returns nil (needs more bytes).
/// An error is final: every later `next()` throws it again.
public struct RESPParser: Sendable {
    public let limits: RESPLimits

    private var buffer: [UInt8] = []
    /// Start of the unparsed bytes in `buffer`.
    private var index = 0
    /// Bytes dropped from the front of `buffer` so far (for error offsets).
    private var dropped = 0
    /// How far past `index` the current line has been searched for LF without finding it.
    private var scanned = 0
    /// Set after a `$n` line: the body (n bytes and CRLF) starts at `index`.
    private var bulkLength: Int?
    /// Where the pending bulk string's `$` line began (for error offsets).
    private var bulkStart = 0
    /// Arrays being filled, outermost first.
    private var stack: [Frame] = []
    private var failure: RESPError?

    private struct Frame: Sendable {
        var remaining: Int
        var items: [RESPValue]
    }

    public init(limits: RESPLimits = RESPLimits()) {
        self.limits = limits
    }

    /// Bytes received but not yet returned as part of a complete reply.
    public var bufferedBytes: Int { buffer.count - index }

    /// True while a reply has started but is not complete.
    public var hasPartialReply: Bool { bufferedBytes > 0 || !stack.isEmpty || bulkLength != nil }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, !bytes.isEmpty else { return }
        compact()
        buffer.append(contentsOf: bytes)
    }

    public mutating func append<S: Sequence>(contentsOf bytes: S) where S.Element == UInt8 {
        guard failure == nil else { return }
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Drops parsed bytes from the front once they are at least half the buffer (amortized
    /// O(1) per byte), or all of it when everything was parsed.
    private mutating func compact() {
        guard index > 0 else { return }
        if index == buffer.count {
            dropped += index
            buffer.removeAll(keepingCapacity: buffer.capacity <= 64 << 10)
            index = 0
        } else if index >= 4096 && index * 2 >= buffer.count {
            dropped += index
            buffer.removeSubrange(0..<index)
            index = 0
        }
    }

    /// The next complete reply, or nil when more bytes are needed.
    public mutating func next() throws(RESPError) -> RESPValue? {
        if let failure { throw failure }
        do {
            return try step()
        } catch {
            failure = error
            buffer = []
            index = 0
            bulkLength = nil
            stack = []
            throw error
        }
    }

    private mutating func step() throws(RESPError) -> RESPValue? {
        while true {
            if let length = bulkLength {
                guard buffer.count - index >= length + 2 else { return nil }
                guard buffer[index + length] == 13, buffer[index + length + 1] == 10 else {
                    throw RESPError(.badBulkTerminator, offset: bulkStart)
                }
                let value = RESPValue.bulkString(Array(buffer[index..<index + length]))
                index += length + 2
                bulkLength = nil
                if let done = complete(value) { return done }
                continue
            }

            guard index < buffer.count else { return nil }
            let start = dropped + index
            let type = buffer[index]
            switch type {
            case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "$"), UInt8(ascii: "*"):
                break
            case UInt8(ascii: "_"), UInt8(ascii: ","), UInt8(ascii: "#"), UInt8(ascii: "("), UInt8(ascii: "!"),
                 UInt8(ascii: "="), UInt8(ascii: "%"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "|"):
                throw RESPError(.resp3Type(type), offset: start)
            default:
                throw RESPError(.unknownType(type), offset: start)
            }

            // The line: type byte, content, CR, LF within maxLineBytes + 2 bytes.
            let window = min(buffer.count, index + limits.maxLineBytes + 2)
            var lf = -1
            var i = index + max(scanned, 1)
            while i < window {
                if buffer[i] == 10 { lf = i; break }
                i += 1
            }
            if lf < 0 {
                if window - index >= limits.maxLineBytes + 2 { throw RESPError(.lineTooLong(limit: limits.maxLineBytes), offset: start) }
                scanned = window - index
                return nil
            }
            scanned = 0
            // Content is buffer[index+1 ..< lf-1]; buffer[lf-1] must be the CR.
            guard lf - 1 > index, buffer[lf - 1] == 13 else { throw RESPError(.badLineEnding, offset: start) }
            let contentStart = index + 1, contentEnd = lf - 1
            var k = contentStart
            while k < contentEnd {
                if buffer[k] == 13 { throw RESPError(.badLineEnding, offset: start) }
                k += 1
            }
            index = lf + 1

            let value: RESPValue
            switch type {
            case UInt8(ascii: "+"):
                value = .simpleString(String(decoding: buffer[contentStart..<contentEnd], as: UTF8.self))
            case UInt8(ascii: "-"):
                value = .error(String(decoding: buffer[contentStart..<contentEnd], as: UTF8.self))
            case UInt8(ascii: ":"):
                guard let n = RESPParser.decimal(buffer[contentStart..<contentEnd]) else { throw RESPError(.badInteger, offset: start) }
                value = .integer(n)
            case UInt8(ascii: "$"):
                guard let n = RESPParser.decimal(buffer[contentStart..<contentEnd]), n >= -1 else { throw RESPError(.badLength, offset: start) }
                if n == -1 {
                    value = .bulkString(nil)
                } else {
                    guard n <= Int64(limits.maxBulkBytes) else { throw RESPError(.bulkTooLong(length: n, limit: limits.maxBulkBytes), offset: start) }
                    bulkLength = Int(n)
                    bulkStart = start
                    continue
                }
            default: // "*"
                guard let n = RESPParser.decimal(buffer[contentStart..<contentEnd]), n >= -1 else { throw RESPError(.badLength, offset: start) }
                if n == -1 {
                    value = .array(nil)
                } else {
                    guard n <= Int64(limits.maxArrayCount) else { throw RESPError(.arrayTooLong(count: n, limit: limits.maxArrayCount), offset: start) }
                    guard stack.count < limits.maxDepth else { throw RESPError(.tooDeep(limit: limits.maxDepth), offset: start) }
                    if n == 0 {
                        value = .array([])
                    } else {
                        // No reserveCapacity(n): storage grows with elements that actually arrive.
                        stack.append(Frame(remaining: Int(n), items: []))
                        continue
                    }
                }
            }
            if let done = complete(value) { return done }
        }
    }

    /// Places a finished value into the array being filled; returns a finished top-level reply.
    private mutating func complete(_ value: RESPValue) -> RESPValue? {
        var value = value
        while !stack.isEmpty {
            let top = stack.count - 1
            stack[top].items.append(value)
            stack[top].remaining -= 1
            if stack[top].remaining > 0 { return nil }
            value = .array(stack.removeLast().items)
        }
        return value
    }

    /// A strict signed decimal: optional '-', 1 to 19 digits, within Int64.
    static func decimal(_ bytes: ArraySlice<UInt8>) -> Int64? {
        var i = bytes.startIndex
        var negative = false
        if i < bytes.endIndex, bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        guard i < bytes.endIndex, bytes.endIndex - i <= 19 else { return nil }
        var magnitude: UInt64 = 0
        while i < bytes.endIndex {
            let d = bytes[i] &- UInt8(ascii: "0")
            guard d <= 9 else { return nil }
            magnitude = magnitude * 10 + UInt64(d)   // 19 digits cannot overflow UInt64
            i += 1
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }
}
