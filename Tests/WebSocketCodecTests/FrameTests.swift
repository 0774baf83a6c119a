import Testing
@testable import WebSocketCodec

@Suite struct FrameTests {
    // RFC 6455 §5.7 examples.
    @Test func unmaskedHelloEncodes() {
        #expect(WebSocketFrameEncoder.encode(opcode: .text, payload: bytes("Hello")) == hex("81 05 48 65 6c 6c 6f"))
    }

    @Test func maskedHelloEncodesAndDecodes() {
        let frame = clientFrame(.text, bytes("Hello"))
        #expect(frame == hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"))
        var m = WebSocketConnectionMachine(deflate: nil)
        #expect(m.receive(frame) == [.text(bytes("Hello"))])
    }

    @Test func fragmentedHello() {
        var m = WebSocketConnectionMachine(deflate: nil)
        let input = clientFrame(.text, bytes("Hel"), fin: false) + clientFrame(.continuation, bytes("lo"))
        #expect(m.receive(input) == [.text(bytes("Hello"))])
        // The unmasked §5.7 fragments, as a server sends them.
        #expect(WebSocketFrameEncoder.encode(opcode: .text, payload: bytes("Hel"), fin: false) == hex("01 03 48 65 6c"))
        #expect(WebSocketFrameEncoder.encode(opcode: .continuation, payload: bytes("lo")) == hex("80 02 6c 6f"))
    }

    @Test func pingGetsPongWithSamePayload() {
        var m = WebSocketConnectionMachine(deflate: nil)
        let events = m.receive(clientFrame(.ping, bytes("Hello")))
        #expect(events == [.ping(bytes("Hello")), .send(hex("8a 05 48 65 6c 6c 6f"))])
        #expect(m.receive(clientFrame(.pong, bytes("Hello"))) == [.pong(bytes("Hello"))])
    }

    @Test func lengthEncodings() {
        let p256 = [UInt8](repeating: 7, count: 256)
        let f256 = WebSocketFrameEncoder.encode(opcode: .binary, payload: p256)
        #expect(Array(f256.prefix(4)) == hex("82 7e 01 00"))
        #expect(f256.count == 260)
        let p64k = [UInt8](repeating: 9, count: 65536)
        let f64k = WebSocketFrameEncoder.encode(opcode: .binary, payload: p64k)
        #expect(Array(f64k.prefix(10)) == hex("82 7f 00 00 00 00 00 01 00 00"))
        #expect(f64k.count == 65546)
        // 125 and 65535 are the largest lengths of the shorter forms.
        #expect(WebSocketFrameEncoder.encode(opcode: .binary, payload: [UInt8](repeating: 0, count: 125))[1] == 125)
        #expect(WebSocketFrameEncoder.encode(opcode: .binary, payload: [UInt8](repeating: 0, count: 65535))[1] == 126)
        // And they decode back through the machine.
        var m = WebSocketConnectionMachine(deflate: nil)
        #expect(m.receive(clientFrame(.binary, p256) + clientFrame(.binary, p64k)) == [.binary(p256), .binary(p64k)])
    }

    @Test func rsv1AndFinBits() {
        let f = WebSocketFrameEncoder.encode(opcode: .text, payload: bytes("x"), fin: false, rsv1: true)
        #expect(f[0] == 0x41)
    }

    @Test func closePayloadTruncatesWithoutSplittingCharacters() {
        let reason = String(repeating: "é", count: 100)   // 200 bytes
        let p = WebSocketFrameEncoder.closePayload(code: 1001, reason: reason)
        #expect(p.count <= 125)
        #expect(Array(p.prefix(2)) == [0x03, 0xE9])
        #expect(UTF8Validator.isValid(Array(p.dropFirst(2))))
    }

    @Test func decoderReportsHeaderPayloadAndEnd() throws {
        var d = WebSocketFrameDecoder()
        let frame = WebSocketFrameEncoder.encode(opcode: .binary, payload: [1, 2, 3])
        var steps: [String] = []
        try frame.withUnsafeBytes { buf in
            var i = 0
            loop: while true {
                switch try d.next(buf, index: &i) {
                case .needMoreData: break loop
                case .header(let h): steps.append("h\(h.payloadLength)\(h.masked)")
                case .payload(let p, let off): steps.append("p\(Array(p))@\(off)")
                case .frameEnd: steps.append("end")
                }
            }
        }
        #expect(steps == ["h3false", "p[1, 2, 3]@0", "end"])
        #expect(d.isAtFrameBoundary)
    }

    @Test func decoderRejectsLengthWithTopBitSet() {
        var d = WebSocketFrameDecoder()
        let frame = hex("82 ff 80 00 00 00 00 00 00 00 01 02 03 04")
        #expect(throws: WebSocketFrameDecoderError.invalidLength) {
            try frame.withUnsafeBytes { buf in
                var i = 0
                _ = try d.next(buf, index: &i)
            }
        }
    }

    @Test func unmaskMatchesBytewiseAtEveryPhase() {
        let src = (0..<37).map { UInt8($0 &* 7) }
        let key: UInt32 = 0x3D21_FA37   // bytes 37 fa 21 3d in memory order
        let keyBytes: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        for phase in 0..<4 {
            var out: [UInt8] = [0xAA]
            src.withUnsafeBytes { WebSocketFrameDecoder.unmask($0, maskKey: key, maskOffset: phase, appendingTo: &out) }
            let expected = [0xAA] + src.enumerated().map { $0.element ^ keyBytes[($0.offset + phase) & 3] }
            #expect(out == expected)
        }
    }
}
