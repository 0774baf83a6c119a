import Testing
@testable import RESPCodec

/// Everything `next()` yields for `input` fed in the given pieces: the values, then the error if any.
private func parse(_ chunks: [[UInt8]], limits: RESPLimits = RESPLimits()) -> (values: [RESPValue], error: RESPError?) {
    var parser = RESPParser(limits: limits)
    var values: [RESPValue] = []
    for chunk in chunks {
        parser.append(contentsOf: chunk)
        do {
            while let v = try parser.next() { values.append(v) }
        } catch {
            return (values, error)
        }
    }
    return (values, nil)
}

private func parse(_ text: String, limits: RESPLimits = RESPLimits()) -> (values: [RESPValue], error: RESPError?) {
    parse([Array(text.utf8)], limits: limits)
}

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite struct RESPParserTests {
    @Test func simpleStringErrorAndInteger() {
        let r = parse("+OK\r\n-ERR unknown command 'FOO'\r\n:0\r\n:-42\r\n:9223372036854775807\r\n:-9223372036854775808\r\n+\r\n")
        #expect(r.error == nil)
        #expect(r.values == [
            .simpleString("OK"), .error("ERR unknown command 'FOO'"), .integer(0), .integer(-42),
            .integer(.max), .integer(.min), .simpleString(""),
        ])
    }

    @Test func bulkStrings() {
        let r = parse("$5\r\nhello\r\n$0\r\n\r\n$-1\r\n$4\r\na\r\nb\r\n")
        #expect(r.error == nil)
        #expect(r.values == [.bulkString(bytes("hello")), .bulkString([]), .bulkString(nil), .bulkString(bytes("a\r\nb"))])
        // Binary-safe: every byte value, NULs and CRLFs included.
        let all = (0...255).map { UInt8($0) }
        let b = parse([bytes("$256\r\n") + all + bytes("\r\n")])
        #expect(b.values == [.bulkString(all)])
    }

    @Test func arrays() {
        let r = parse("*0\r\n*-1\r\n*3\r\n:1\r\n$1\r\nx\r\n*2\r\n+a\r\n*-1\r\n*2\r\n$-1\r\n-ERR in array\r\n")
        #expect(r.error == nil)
        #expect(r.values == [
            .array([]),
            .array(nil),
            .array([.integer(1), .bulkString(bytes("x")), .array([.simpleString("a"), .array(nil)])]),
            .array([.bulkString(nil), .error("ERR in array")]),
        ])
    }

    @Test func deeplyNestedWithinTheLimit() {
        var limits = RESPLimits()
        limits.maxDepth = 5
        let ok = parse(String(repeating: "*1\r\n", count: 4) + "*0\r\n", limits: limits)
        #expect(ok.error == nil)
        #expect(ok.values == [.array([.array([.array([.array([.array([])])])])])])
        let deep = parse(String(repeating: "*1\r\n", count: 5) + "*0\r\n", limits: limits)
        #expect(deep.error == RESPError(.tooDeep(limit: 5), offset: 20))
        // A scalar at depth 5 is fine (depth counts arrays).
        #expect(parse(String(repeating: "*1\r\n", count: 5) + ":1\r\n", limits: limits).error == nil)
    }

    /// Replies of every type, some nested, as one stream.
    private static let sample: [UInt8] = bytes(
        "+OK\r\n-WRONGTYPE Operation against a key\r\n:12345\r\n:-1\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n"
        + "*-1\r\n*0\r\n*2\r\n$7\r\nmessage\r\n*3\r\n:1\r\n*1\r\n+deep\r\n$3\r\na\rb\r\n"
        + "*3\r\n$7\r\nmessage\r\n$7\r\nclass:a\r\n$2\r\n{}\r\n")

    @Test func splitAtEveryByteBoundaryGivesTheSameReplies() {
        let whole = parse([Self.sample])
        #expect(whole.error == nil)
        #expect(whole.values.count == 11)
        // Two pieces, at every boundary.
        for i in 0...Self.sample.count {
            let r = parse([Array(Self.sample[..<i]), Array(Self.sample[i...])])
            #expect(r.values == whole.values, "split at \(i)")
            #expect(r.error == nil)
        }
        // Three pieces, at every pair of boundaries.
        for i in 0...Self.sample.count {
            for j in i...Self.sample.count {
                let r = parse([Array(Self.sample[..<i]), Array(Self.sample[i..<j]), Array(Self.sample[j...])])
                if r.values != whole.values { Issue.record("split at \(i), \(j)"); return }
            }
        }
        // One byte at a time.
        #expect(parse(Self.sample.map { [$0] }).values == whole.values)
    }

    @Test func errorsDoNotDependOnTheSplitEither() {
        var limits = RESPLimits()
        limits.maxLineBytes = 16
        limits.maxBulkBytes = 8
        for bad in ["+OK\r\n:12x\r\n", "+OK\r\n+" + String(repeating: "a", count: 40) + "\r\n", "$3\r\nabcd\r\n", "*2\r\n:1\r\n$9\r\n", "+a\nb\r\n"] {
            let input = bytes(bad)
            let whole = parse([input], limits: limits)
            #expect(whole.error != nil, "\(bad.debugDescription)")
            for i in 0...input.count {
                let r = parse([Array(input[..<i]), Array(input[i...])], limits: limits)
                #expect(r.values == whole.values && r.error == whole.error, "\(bad.debugDescription) split at \(i)")
            }
            #expect(parse(input.map { [$0] }, limits: limits).error == whole.error)
        }
    }

    @Test func incompleteInputWaits() throws {
        var p = RESPParser()
        for partial in ["", "+O", "+OK\r", "$5\r\nhel", "*2\r\n:1\r\n", "$-"] {
            p = RESPParser()
            p.append(contentsOf: bytes(partial))
            #expect(try p.next() == nil, "\(partial.debugDescription)")
            #expect(p.hasPartialReply == !partial.isEmpty)
        }
        p = RESPParser()
        p.append(contentsOf: bytes("*2\r\n:1\r\n"))
        #expect(try p.next() == nil)
        p.append(contentsOf: bytes(":2\r\n+next"))
        #expect(try p.next() == .array([.integer(1), .integer(2)]))
        #expect(try p.next() == nil)
        #expect(p.bufferedBytes == 5)
    }

    @Test func limitsOnBulkArrayAndLine() throws {
        let limits = RESPLimits(maxBulkBytes: 10, maxArrayCount: 3, maxDepth: 4, maxLineBytes: 20)
        // Exactly at each limit: fine.
        #expect(parse("$10\r\n0123456789\r\n", limits: limits).values == [.bulkString(bytes("0123456789"))])
        #expect(parse("*3\r\n:1\r\n:2\r\n:3\r\n", limits: limits).values.count == 1)
        let line = "+" + String(repeating: "x", count: 19)            // 20 bytes with the type byte
        #expect(parse(line + "\r\n", limits: limits).values == [.simpleString(String(repeating: "x", count: 19))])
        // One over.
        #expect(parse("+OK\r\n$11\r\n", limits: limits).error == RESPError(.bulkTooLong(length: 11, limit: 10), offset: 5))
        #expect(parse("*4\r\n", limits: limits).error == RESPError(.arrayTooLong(count: 4, limit: 3), offset: 0))
        #expect(parse(line + "x\r\n", limits: limits).error == RESPError(.lineTooLong(limit: 20), offset: 0))
        // A line with no end is refused once it passes the limit, not buffered forever.
        var p = RESPParser(limits: limits)
        p.append(contentsOf: bytes("-" + String(repeating: "e", count: 21)))
        #expect(throws: RESPError(.lineTooLong(limit: 20), offset: 0)) { try p.next() }
        // An announced length allocates nothing until the bytes come.
        var big = RESPParser()
        big.append(contentsOf: bytes("$67108864\r\nabc"))
        #expect(try big.next() == nil)
        #expect(big.bufferedBytes == 3)
        #expect(parse("$67108865\r\n").error == RESPError(.bulkTooLong(length: 67108865, limit: 64 << 20), offset: 0))
        #expect(parse("*9223372036854775807\r\n").error?.kind == .arrayTooLong(count: .max, limit: 1 << 20))
    }

    @Test func malformedInput() {
        let cases: [(String, RESPError)] = [
            ("?\r\n", RESPError(.unknownType(UInt8(ascii: "?")), offset: 0)),
            ("+OK\r\n\r\n", RESPError(.unknownType(13), offset: 5)),
            ("%1\r\n", RESPError(.resp3Type(UInt8(ascii: "%")), offset: 0)),
            ("_\r\n", RESPError(.resp3Type(UInt8(ascii: "_")), offset: 0)),
            (",1.5\r\n", RESPError(.resp3Type(UInt8(ascii: ",")), offset: 0)),
            ("+OK\n", RESPError(.badLineEnding, offset: 0)),
            ("+\n", RESPError(.badLineEnding, offset: 0)),
            ("+O\rK\r\n", RESPError(.badLineEnding, offset: 0)),
            (":\r\n", RESPError(.badInteger, offset: 0)),
            (":+1\r\n", RESPError(.badInteger, offset: 0)),
            (":1 \r\n", RESPError(.badInteger, offset: 0)),
            (":-\r\n", RESPError(.badInteger, offset: 0)),
            (":9223372036854775808\r\n", RESPError(.badInteger, offset: 0)),
            (":-9223372036854775809\r\n", RESPError(.badInteger, offset: 0)),
            (":00000000000000000001\r\n", RESPError(.badInteger, offset: 0)),
            ("$-2\r\n", RESPError(.badLength, offset: 0)),
            ("$\r\n", RESPError(.badLength, offset: 0)),
            ("$x\r\n", RESPError(.badLength, offset: 0)),
            ("*-5\r\n", RESPError(.badLength, offset: 0)),
            ("$3\r\nabcd\r\n", RESPError(.badBulkTerminator, offset: 0)),
            ("$3\r\nab\r\n\r\n", RESPError(.badBulkTerminator, offset: 0)),
            ("*2\r\n:1\r\n$1\r\nxyz", RESPError(.badBulkTerminator, offset: 8)),
            ("*1\r\n\u{0}", RESPError(.unknownType(0), offset: 4)),
        ]
        for (input, expected) in cases {
            let r = parse(input)
            #expect(r.error == expected, "\(input.debugDescription)")
        }
        // Values before the fault are still returned.
        let r = parse("+OK\r\n:1\r\n!x")
        #expect(r.values == [.simpleString("OK"), .integer(1)])
        #expect(r.error?.offset == 9)
    }

    @Test func anErrorIsFinal() {
        var p = RESPParser()
        p.append(contentsOf: bytes("?"))
        let first = #expect(throws: RESPError.self) { try p.next() }
        p.append(contentsOf: bytes("+OK\r\n"))
        let again = #expect(throws: RESPError.self) { try p.next() }
        #expect(first == again)
        #expect(first?.description == "RESP protocol error at byte 0: unknown reply type byte '?'")
    }

    @Test func errorMessagesAreClear() {
        #expect(RESPError(.bulkTooLong(length: 99, limit: 10), offset: 7).description
                == "RESP protocol error at byte 7: bulk string of 99 bytes exceeds the limit of 10")
        #expect(RESPError(.resp3Type(UInt8(ascii: "%")), offset: 0).description
                == "RESP protocol error at byte 0: RESP3 reply type '%' (only RESP2 is supported)")
        #expect(RESPError(.unknownType(0), offset: 3).description == "RESP protocol error at byte 3: unknown reply type byte 0x0")
    }

    @Test func largeArrayByteByByte() {
        // 10,000 elements arriving one byte at a time: linear, and the same as whole.
        var stream = bytes("*10000\r\n")
        for i in 0..<10_000 { stream += bytes(":\(i)\r\n") }
        var p = RESPParser()
        var got: RESPValue?
        for b in stream {
            p.append(contentsOf: CollectionOfOne(b))
            if let v = try? p.next() { got = v }
        }
        #expect(got == .array((0..<10_000).map { .integer(Int64($0)) }))
        #expect(!p.hasPartialReply)
    }

    @Test func manyPipelinedRepliesCompactTheBuffer() throws {
        var p = RESPParser()
        var count = 0
        for i in 0..<5_000 {
            p.append(contentsOf: bytes(":\(i)\r\n$3\r\nabc\r\n+O"))
            p.append(contentsOf: bytes("K\r\n"))
            while let _ = try p.next() { count += 1 }
        }
        #expect(count == 15_000)
        #expect(p.bufferedBytes == 0)
    }
}

@Suite struct RESPEncodingTests {
    @Test func commandsAreArraysOfBulkStrings() {
        #expect(RESPRequest.encode(["SET", "k", "v"]) == bytes("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"))
        #expect(RESPRequest.encode(["SET", "clé", ""]) == bytes("*3\r\n$3\r\nSET\r\n$4\r\nclé\r\n$0\r\n\r\n"))
        #expect(RESPRequest.encode([bytes("PUBLISH"), [0, 13, 10, 255]]) == bytes("*2\r\n$7\r\nPUBLISH\r\n$4\r\n") + [0, 13, 10, 255] + bytes("\r\n"))
        var out = bytes("x")
        RESPRequest.append(["PING"], to: &out)
        #expect(out == bytes("x*1\r\n$4\r\nPING\r\n"))
    }

    @Test func valuesRoundTrip() throws {
        let values: [RESPValue] = [
            .simpleString("OK"), .error("ERR x"), .integer(.min), .integer(.max), .integer(0),
            .bulkString(nil), .bulkString([]), .bulkString([0, 13, 10]), .array(nil), .array([]),
            .array([.integer(1), .array([.bulkString(bytes("a")), .array(nil)]), .error("E")]),
        ]
        var stream: [UInt8] = []
        for v in values { v.encode(into: &stream) }
        #expect(parse([stream]).values == values)
        #expect(RESPValue.array([.integer(1), .bulkString(nil)]).encoded() == bytes("*2\r\n:1\r\n$-1\r\n"))
    }

    @Test func accessors() {
        #expect(RESPValue.bulkString(bytes("42")).int == 42)
        #expect(RESPValue.integer(7).int == 7)
        #expect(RESPValue.simpleString("OK").string == "OK")
        #expect(RESPValue.bulkString(bytes("hé")).string == "hé")
        #expect(RESPValue.bulkString(nil).string == nil)
        #expect(RESPValue.bulkString(nil).isNull && RESPValue.array(nil).isNull && !RESPValue.array([]).isNull)
        #expect(RESPValue.array([.integer(1)]).array == [.integer(1)])
        #expect(RESPValue.error("ERR").string == nil)
    }
}

@Suite struct RedisTimeTests {
    @Test func parsesTheReplyToTIME() {
        let reply = RESPValue.array([.bulkString(bytes("1700000000")), .bulkString(bytes("123456"))])
        let t = RedisTime(reply: reply)
        #expect(t == RedisTime(seconds: 1_700_000_000, microseconds: 123_456))
        #expect(t?.milliseconds == 1_700_000_000_123)
        #expect(t?.totalMicroseconds == 1_700_000_000_123_456)
        #expect(RedisTime(seconds: 5, microseconds: 999_999).milliseconds == 5_999)
        // The same bytes through the parser.
        let parsed = parse("*2\r\n$10\r\n1700000000\r\n$6\r\n000999\r\n").values.first
        #expect(parsed.flatMap(RedisTime.init(reply:))?.milliseconds == 1_700_000_000_000)
    }

    @Test func refusesOtherShapes() {
        let bad: [RESPValue] = [
            .array([.bulkString(bytes("1"))]),
            .array([.bulkString(bytes("1")), .bulkString(bytes("1000000"))]),
            .array([.bulkString(bytes("-1")), .bulkString(bytes("0"))]),
            .array([.bulkString(bytes("x")), .bulkString(bytes("0"))]),
            .array([.bulkString(bytes("1")), .bulkString(bytes("2")), .bulkString(bytes("3"))]),
            .bulkString(bytes("1700000000")),
            .array(nil),
            .error("ERR"),
        ]
        for v in bad { #expect(RedisTime(reply: v) == nil, "\(v)") }
    }
}
