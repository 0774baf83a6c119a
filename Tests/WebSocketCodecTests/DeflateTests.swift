import Testing
@testable import WebSocketCodec

@Suite struct DeflateTests {
    static let params = DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15)

    // RFC 7692 §7.2.3.1: "Hello" compressed.
    @Test func helloSingleFrame() {
        var m = WebSocketConnectionMachine(deflate: Self.params)
        #expect(m.receive(clientFrame(.text, hex("f2 48 cd c9 c9 07 00"), rsv1: true)) == [.text(bytes("Hello"))])
    }

    // §7.2.3.1, fragmented: RSV1 only on the first frame.
    @Test func helloFragmented() {
        var m = WebSocketConnectionMachine(deflate: Self.params)
        let input = clientFrame(.text, hex("f2 48 cd"), fin: false, rsv1: true) + clientFrame(.continuation, hex("c9 c9 07 00"))
        #expect(m.receive(input) == [.text(bytes("Hello"))])
    }

    // §7.2.3.2: the same message twice with context takeover; the second refers back to the first.
    @Test func sharingTheSlidingWindow() {
        var m = WebSocketConnectionMachine(deflate: Self.params)
        let input = clientFrame(.text, hex("f2 48 cd c9 c9 07 00"), rsv1: true) + clientFrame(.text, hex("f2 00 11 00 00"), rsv1: true)
        #expect(m.receive(input) == [.text(bytes("Hello")), .text(bytes("Hello"))])
    }

    // §7.2.3.3: a stored (no compression) block.
    @Test func noCompressionBlock() {
        var m = WebSocketConnectionMachine(deflate: Self.params)
        #expect(m.receive(clientFrame(.text, hex("00 05 00 fa ff 48 65 6c 6c 6f 00"), rsv1: true)) == [.text(bytes("Hello"))])
    }

    // §7.2.3.4: BFINAL set.
    @Test func bfinalSet() {
        var m = WebSocketConnectionMachine(deflate: Self.params)
        #expect(m.receive(clientFrame(.text, hex("f3 48 cd c9 c9 07 00 00"), rsv1: true)) == [.text(bytes("Hello"))])
        // The connection keeps working afterwards.
        #expect(m.receive(clientFrame(.text, hex("f2 48 cd c9 c9 07 00"), rsv1: true)) == [.text(bytes("Hello"))])
    }

    // §7.2.3.5: two DEFLATE blocks in one message.
    @Test func twoBlocks() {
        var m = WebSocketConnectionMachine(deflate: Self.params)
        #expect(m.receive(clientFrame(.text, hex("f2 48 05 00 00 00 ff ff ca c9 c9 07 00"), rsv1: true)) == [.text(bytes("Hello"))])
    }

    @Test func uncompressedMessagesStillWorkWithDeflate() {
        var m = WebSocketConnectionMachine(deflate: Self.params)
        #expect(m.receive(clientFrame(.text, bytes("plain"))) == [.text(bytes("plain"))])
    }

    @Test func corruptDataIs1007() {
        #expect(failureCode(clientFrame(.binary, hex("ff ff ff ff ff"), rsv1: true), deflate: Self.params) == 1007)
    }

    @Test func invalidUTF8InsideCompressedTextIs1007() throws {
        var c = SharedDeflateCompressor()
        let compressed = c.compress([0x61, 0xED, 0xA0, 0x80] + [UInt8](repeating: 0x61, count: 100), windowBits: 15)
        #expect(failureCode(clientFrame(.text, compressed, rsv1: true), deflate: Self.params) == 1007)
    }

    @Test func roundTripThroughSharedCompressor() {
        var c = SharedDeflateCompressor()
        let payload = Array(String(repeating: "{\"cue\":\"walk backwards\",\"speed\":4.5}", count: 50).utf8)
        for bits in [8, 9, 12, 15] {
            let compressed = c.compress(payload, windowBits: bits)
            #expect(compressed.count < payload.count / 4)
            #expect(Array(compressed.suffix(4)) != [0, 0, 0xFF, 0xFF])
            var m = WebSocketConnectionMachine(deflate: Self.params)
            #expect(m.receive(clientFrame(.text, compressed, rsv1: true)) == [.text(payload)])
        }
        // Compressing the same message twice gives the same bytes: no context is carried over.
        #expect(c.compress(payload, windowBits: 15) == c.compress(payload, windowBits: 15))
    }

    @Test func frameMessageCompressesOnlyAboveThreshold() {
        var c = SharedDeflateCompressor()
        let m = WebSocketConnectionMachine(deflate: Self.params)
        let small = m.frameMessage(opcode: .text, payload: bytes("hi"), compressor: &c)
        #expect(small == WebSocketFrameEncoder.encode(opcode: .text, payload: bytes("hi")))
        let big = [UInt8](repeating: 0x62, count: 1000)
        let framed = m.frameMessage(opcode: .text, payload: big, compressor: &c)
        #expect(framed[0] == 0xC1)          // FIN + RSV1 + text
        #expect(framed.count < 100)
        let plain = WebSocketConnectionMachine(deflate: nil).frameMessage(opcode: .text, payload: big, compressor: &c)
        #expect(plain == WebSocketFrameEncoder.encode(opcode: .text, payload: big))
    }

    @Test func incompressibleDataIsSentPlain() {
        var c = SharedDeflateCompressor()
        var rng = SystemRandomNumberGenerator()
        let noise = (0..<2000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let framed = WebSocketConnectionMachine.frameMessage(opcode: .binary, payload: noise, deflate: Self.params, compressor: &c)
        #expect(framed == WebSocketFrameEncoder.encode(opcode: .binary, payload: noise))
    }

    @Test func decompressionBombIs1009WithoutInflatingItAll() {
        // 10 MB of zeros compress to about 10 KB; the limit is 1 MiB.
        var c = SharedDeflateCompressor()
        let bomb = c.compress([UInt8](repeating: 0, count: 10_000_000), windowBits: 15)
        #expect(bomb.count < 20_000)
        #expect(failureCode(clientFrame(.binary, bomb, rsv1: true), deflate: Self.params) == 1009)

        // The inflater stops within one output chunk of the limit.
        let inflater = Inflater()
        var out: [UInt8] = []
        #expect(throws: InflateError.tooLarge) {
            try bomb.withUnsafeBytes { try inflater.inflate($0, appendingTo: &out, limit: 1 << 20) }
        }
        #expect(out.count <= 1 << 20)
    }

    @Test func limitCountsInflatedBytes() {
        var limits = WebSocketLimits()
        limits.maxMessageBytes = 1000
        var c = SharedDeflateCompressor()
        let compressed = c.compress([UInt8](repeating: 0x41, count: 1001), windowBits: 15)
        #expect(failureCode(clientFrame(.text, compressed, rsv1: true), deflate: Self.params, limits: limits) == 1009)
        let fits = c.compress([UInt8](repeating: 0x41, count: 1000), windowBits: 15)
        var m = WebSocketConnectionMachine(deflate: Self.params, limits: limits)
        #expect(m.receive(clientFrame(.text, fits, rsv1: true)) == [.text([UInt8](repeating: 0x41, count: 1000))])
    }

    @Test func clientNoContextTakeoverFreesInflater() {
        var p = Self.params
        p.clientNoContextTakeover = true
        var m = WebSocketConnectionMachine(deflate: p)
        #expect(m.receive(clientFrame(.text, hex("f2 48 cd c9 c9 07 00"), rsv1: true)) == [.text(bytes("Hello"))])
        #expect(m.isIdle)
        // Without context takeover a back-reference to the previous message is invalid.
        let events = m.receive(clientFrame(.text, hex("f2 00 11 00 00"), rsv1: true))
        #expect(closeCode(events) == .some(1007))
    }

    @Test func compressedMessageSplitAtEveryOffset() {
        var c = SharedDeflateCompressor()
        let text = Array(String(repeating: "Rückwärtslaufen ", count: 20).utf8)
        let compressed = c.compress(text, windowBits: 15)
        let input = clientFrame(.text, Array(compressed.prefix(10)), fin: false, rsv1: true) + clientFrame(.ping, [1])
            + clientFrame(.continuation, Array(compressed.dropFirst(10)))
        for cut in 1..<input.count {
            var m = WebSocketConnectionMachine(deflate: Self.params)
            #expect(feed(&m, input, splitAt: [cut]) == [.ping([1]), .send(hex("8a 01 01")), .text(text)], "cut at \(cut)")
        }
    }
}
