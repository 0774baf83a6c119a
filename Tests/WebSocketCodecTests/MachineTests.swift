import Testing
@testable import WebSocketCodec

@Suite struct MachineProtocolTests {
    @Test func unmaskedClientFrameIs1002() {
        #expect(failureCode(WebSocketFrameEncoder.encode(opcode: .text, payload: bytes("hi"))) == 1002)
    }

    @Test(arguments: [0xC1, 0xA1, 0x91, 0xF1] as [UInt8])   // RSV1 (no deflate), RSV2, RSV3, all
    func reservedBitsAre1002(_ firstByte: UInt8) {
        #expect(failureCode(rawClientFrame(firstByte: firstByte, bytes("hi"))) == 1002)
    }

    @Test func rsv1OnControlOrContinuationIs1002EvenWithDeflate() {
        let d = DeflateParameters()
        #expect(failureCode(rawClientFrame(firstByte: 0xC9, []), deflate: d) == 1002)   // ping with RSV1
        let start = clientFrame(.text, bytes("a"), fin: false)
        #expect(failureCode(start + rawClientFrame(firstByte: 0xC0, bytes("b")), deflate: d) == 1002)
    }

    @Test(arguments: [3, 4, 5, 6, 7, 11, 12, 13, 14, 15] as [UInt8])
    func reservedOpcodesAre1002(_ opcode: UInt8) {
        #expect(failureCode(rawClientFrame(firstByte: 0x80 | opcode, [])) == 1002)
    }

    @Test func controlFrameRules() {
        #expect(failureCode(clientFrame(.ping, [UInt8](repeating: 1, count: 126))) == 1002)
        #expect(failureCode(clientFrame(.ping, bytes("x"), fin: false)) == 1002)
        var m = WebSocketConnectionMachine(deflate: nil)
        let ok = m.receive(clientFrame(.ping, [UInt8](repeating: 1, count: 125)))
        #expect(ok.count == 2)
    }

    @Test func fragmentationRules() {
        #expect(failureCode(clientFrame(.continuation, bytes("x"))) == 1002)
        #expect(failureCode(clientFrame(.text, bytes("a"), fin: false) + clientFrame(.text, bytes("b"))) == 1002)
        #expect(failureCode(clientFrame(.binary, bytes("a"), fin: false) + clientFrame(.binary, bytes("b"), fin: false)) == 1002)
    }

    @Test func controlFramesBetweenFragments() {
        var m = WebSocketConnectionMachine(deflate: nil)
        let input = clientFrame(.text, bytes("Hel"), fin: false) + clientFrame(.ping, bytes("p"))
            + clientFrame(.continuation, bytes("l"), fin: false) + clientFrame(.pong, [])
            + clientFrame(.continuation, bytes("o"))
        #expect(m.receive(input) == [.ping(bytes("p")), .send(hex("8a 01 70")), .pong([]), .text(bytes("Hello"))])
    }

    @Test func invalidUTF8FailsFastMidFragment() {
        var m = WebSocketConnectionMachine(deflate: nil)
        // The first fragment is already invalid: the machine must not wait for the rest.
        let events = m.receive(clientFrame(.text, [0xCE, 0xBA, 0xED, 0xA0, 0x80], fin: false))
        #expect(closeCode(events) == .some(1007))
        #expect(sentCloseCode(events) == 1007)
        #expect(m.isClosing)
        #expect(m.receive(clientFrame(.text, bytes("ignored"))) == [])
    }

    @Test func invalidUTF8FailsFastWithinAFrame() {
        // A partial frame whose received bytes are already invalid closes immediately.
        var m = WebSocketConnectionMachine(deflate: nil)
        let frame = clientFrame(.text, [0x61, 0xFF] + [UInt8](repeating: 0x61, count: 100))
        let events = m.receive(Array(frame.prefix(10)))
        #expect(closeCode(events) == .some(1007))
    }

    @Test func truncatedUTF8AtMessageEndIs1007() {
        #expect(failureCode(clientFrame(.text, [0x61, 0xE2, 0x82])) == 1007)
        #expect(failureCode(clientFrame(.text, [0xE2, 0x82], fin: false) + clientFrame(.continuation, [])) == 1007)
    }

    @Test func utf8SplitAcrossFragmentsIsFine() {
        var m = WebSocketConnectionMachine(deflate: nil)
        let euro: [UInt8] = [0xE2, 0x82, 0xAC]
        let input = clientFrame(.text, [euro[0]], fin: false) + clientFrame(.continuation, [euro[1]], fin: false) + clientFrame(.continuation, [euro[2]])
        #expect(m.receive(input) == [.text(euro)])
    }

    @Test func binaryIsNotUTF8Checked() {
        var m = WebSocketConnectionMachine(deflate: nil)
        #expect(m.receive(clientFrame(.binary, [0xFF, 0xFE])) == [.binary([0xFF, 0xFE])])
    }

    @Test func closeWithOneBytePayloadIs1002() {
        #expect(failureCode(clientFrame(.close, [0x03])) == 1002)
    }

    static let validCodes: [UInt16] = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
    static let invalidCodes: [UInt16] = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]

    @Test(arguments: validCodes) func validCloseCodeIsEchoed(_ code: UInt16) {
        var m = WebSocketConnectionMachine(deflate: nil)
        let events = m.receive(clientFrame(.close, WebSocketFrameEncoder.closePayload(code: code, reason: "bye")))
        #expect(events == [.send(WebSocketFrameEncoder.encode(opcode: .close, payload: [UInt8(code >> 8), UInt8(code & 0xFF)])),
                           .closed(code: code, reason: "bye")])
    }

    @Test(arguments: invalidCodes) func invalidCloseCodeIs1002(_ code: UInt16) {
        #expect(failureCode(clientFrame(.close, [UInt8(code >> 8), UInt8(code & 0xFF)])) == 1002)
    }

    @Test func emptyCloseGetsEmptyClose() {
        var m = WebSocketConnectionMachine(deflate: nil)
        #expect(m.receive(clientFrame(.close, [])) == [.send(hex("88 00")), .closed(code: nil, reason: "")])
        #expect(m.receive(clientFrame(.text, bytes("late"))) == [])
    }

    @Test func invalidUTF8InCloseReasonIs1007() {
        #expect(failureCode(clientFrame(.close, [0x03, 0xE8, 0xCE, 0xBA, 0xED, 0xA0, 0x80])) == 1007)
    }

    @Test func messageLimit() {
        var limits = WebSocketLimits()
        limits.maxMessageBytes = 100
        // One frame over the limit is refused from its header alone.
        var m = WebSocketConnectionMachine(deflate: nil, limits: limits)
        let big = clientFrame(.binary, [UInt8](repeating: 0, count: 101))
        #expect(closeCode(m.receive(Array(big.prefix(8)))) == .some(1009))
        // Fragments adding up past the limit.
        let frags = clientFrame(.binary, [UInt8](repeating: 0, count: 60), fin: false) + clientFrame(.continuation, [UInt8](repeating: 0, count: 41))
        #expect(failureCode(frags, limits: limits) == 1009)
        // Exactly at the limit is fine.
        var ok = WebSocketConnectionMachine(deflate: nil, limits: limits)
        #expect(ok.receive(clientFrame(.binary, [UInt8](repeating: 0, count: 100))) == [.binary([UInt8](repeating: 0, count: 100))])
    }

    @Test func hugeDeclaredLengthIs1009BeforeBuffering() {
        // 2^62 bytes declared: refused at the header, nothing allocated.
        let frame = hex("82 ff 40 00 00 00 00 00 00 00 01 02 03 04")
        #expect(failureCode(frame) == 1009)
        #expect(failureCode(hex("82 ff 80 00 00 00 00 00 00 00 01 02 03 04")) == 1002)   // top bit set
    }

    @Test func initiatedCloseWaitsForPeerClose() {
        var m = WebSocketConnectionMachine(deflate: nil)
        let frame = m.initiateClose(code: 1001, reason: "shutdown")
        #expect(frame == WebSocketFrameEncoder.encode(opcode: .close, payload: WebSocketFrameEncoder.closePayload(code: 1001, reason: "shutdown")))
        #expect(m.isClosing)
        #expect(m.initiateClose(code: 1001, reason: "again") == [])
        // Data and pings after our close are parsed but not answered or delivered.
        #expect(m.receive(clientFrame(.text, bytes("x")) + clientFrame(.ping, [])) == [.ping([])])
        #expect(m.receive(clientFrame(.close, [0x03, 0xE9])) == [.closed(code: 1001, reason: "")])
    }

    @Test func everySplitOffsetDecodesTheSame() {
        let input = clientFrame(.text, bytes("Hel"), fin: false) + clientFrame(.ping, bytes("abc"))
            + clientFrame(.continuation, Array("lo wörld".utf8)) + clientFrame(.binary, [UInt8](repeating: 3, count: 300))
            + clientFrame(.close, WebSocketFrameEncoder.closePayload(code: 1000, reason: "done"))
        var reference = WebSocketConnectionMachine(deflate: nil)
        let expected = reference.receive(input)
        #expect(expected.count == 6)
        for cut in 1..<input.count {
            var m = WebSocketConnectionMachine(deflate: nil)
            #expect(feed(&m, input, splitAt: [cut]) == expected, "cut at \(cut)")
        }
        // And byte by byte.
        var m = WebSocketConnectionMachine(deflate: nil)
        #expect(feed(&m, input, splitAt: Array(1..<input.count)) == expected)
    }

    @Test func idleMachineHoldsNoBuffers() {
        var m = WebSocketConnectionMachine(deflate: nil)
        #expect(m.isIdle)
        _ = m.receive(clientFrame(.text, bytes("Hel"), fin: false))
        #expect(!m.isIdle)
        _ = m.receive(clientFrame(.continuation, bytes("lo")) + clientFrame(.ping, bytes("x")))
        #expect(m.isIdle)
    }

    @Test func largeFragmentedMessageIsLinear() {
        // 4 MiB in 64-byte fragments (Autobahn 9.x style) must finish quickly.
        var limits = WebSocketLimits()
        limits.maxMessageBytes = 16 << 20
        var m = WebSocketConnectionMachine(deflate: nil, limits: limits)
        let chunk = [UInt8](repeating: 0x61, count: 64)
        var input: [UInt8] = clientFrame(.text, chunk, fin: false)
        let middle = clientFrame(.continuation, chunk, fin: false)
        let count = (4 << 20) / 64
        input.reserveCapacity(count * middle.count)
        for _ in 0..<(count - 2) { input += middle }
        input += clientFrame(.continuation, chunk)
        let clock = ContinuousClock()
        var events: [WebSocketEvent] = []
        let elapsed = clock.measure { events = m.receive(input) }
        #expect(events == [.text([UInt8](repeating: 0x61, count: count * 64))])
        #expect(elapsed < .seconds(10))
    }
}
