import CZlib
import Testing
import WebSocketCodec
@testable import classbench

@Suite struct EndpointTests {
    @Test func parsesHostPortAndTarget() throws {
        let e = try Endpoint("ws://127.0.0.1:9500/class/42?role=student", allowRemote: false)
        #expect(e.host == "127.0.0.1")
        #expect(e.port == 9500)
        #expect(e.target == "/class/42?role=student")
        #expect(e.address == 0x7F00_0001)
        #expect(e.hostHeader == "127.0.0.1:9500")
        #expect(!e.isSecure)
    }

    @Test func parsesSecureURLsWithTheirDefaultPort() throws {
        let e = try Endpoint("wss://localhost/class?x=1", allowRemote: false)
        #expect(e.isSecure)
        #expect(e.port == 443)
        #expect(e.host == "localhost")
        #expect(!e.hostIsAddress)
        #expect(e.target == "/class?x=1")
        let explicit = try Endpoint("wss://127.0.0.1:8443", allowRemote: false)
        #expect(explicit.isSecure && explicit.port == 8443 && explicit.target == "/" && explicit.hostIsAddress)
        #expect(explicit != (try Endpoint("ws://127.0.0.1:8443", allowRemote: false)))
        #expect(throws: Endpoint.Failure.notLoopback("10.0.0.1")) { try Endpoint("wss://10.0.0.1/", allowRemote: false) }
    }

    @Test func defaultsAndLocalhost() throws {
        let e = try Endpoint("ws://localhost", allowRemote: false)
        #expect(e.port == 80)
        #expect(e.target == "/")
        #expect(e.isLoopback)
        #expect(try Endpoint("ws://127.1.2.3:1?x", allowRemote: false).target == "/?x")
    }

    @Test func refusesNonLoopbackUnlessAllowed() throws {
        #expect(throws: Endpoint.Failure.notLoopback("10.0.0.1")) { try Endpoint("ws://10.0.0.1:80/", allowRemote: false) }
        #expect(throws: Endpoint.Failure.notLoopback("example.org")) { try Endpoint("ws://example.org/", allowRemote: false) }
        // Allowed: parsed, but nothing is sent by parsing.
        #expect(try Endpoint("ws://10.0.0.1:80/", allowRemote: true).address == 0x0A00_0001)
    }

    @Test func rejectsMalformedURLs() {
        #expect(throws: Endpoint.Failure.unsupportedScheme("https://127.0.0.1/")) { try Endpoint("https://127.0.0.1/", allowRemote: false) }
        #expect(throws: Endpoint.Failure.self) { try Endpoint("wss://127.0.0.1:0/", allowRemote: false) }
        #expect(throws: Endpoint.Failure.self) { try Endpoint("http://127.0.0.1/", allowRemote: false) }
        #expect(throws: Endpoint.Failure.self) { try Endpoint("ws://127.0.0.1:0/", allowRemote: false) }
        #expect(throws: Endpoint.Failure.self) { try Endpoint("ws://127.0.0.1:70000/", allowRemote: false) }
        #expect(throws: Endpoint.Failure.self) { try Endpoint("ws://:80/", allowRemote: false) }
        #expect(Endpoint.parseIPv4("127.0.0.256") == nil)
        #expect(Endpoint.parseIPv4("1.2.3") == nil)
        #expect(Endpoint.parseIPv4("1.2.3.4") == 0x0102_0304)
    }
}

@Suite struct HandshakeTests {
    // RFC 6455 section 1.3's example key and accept value.
    static let key = "dGhlIHNhbXBsZSBub25jZQ=="
    static let accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    @Test func acceptValueMatchesTheRFCExample() {
        #expect(webSocketAcceptValue(forKey: Self.key) == Self.accept)
    }

    @Test func requestCarriesKeyVersionAndOffer() {
        let h = ClientHandshake(key: Self.key, offerDeflate: true, acceptValue: webSocketAcceptValue(forKey:))
        let text = String(decoding: h.request(target: "/ws?x=1", host: "127.0.0.1:9", extraHeaders: ["Authorization: Bearer t"]), as: UTF8.self)
        #expect(text.hasPrefix("GET /ws?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"))
        #expect(text.contains("Sec-WebSocket-Key: \(Self.key)\r\n"))
        #expect(text.contains("Sec-WebSocket-Version: 13\r\n"))
        #expect(text.contains("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"))
        #expect(text.contains("Authorization: Bearer t\r\n"))
        #expect(text.hasSuffix("\r\n\r\n"))
    }

    private func response(_ extra: String = "", status: String = "101 Switching Protocols", accept: String = accept) -> [UInt8] {
        Array("HTTP/1.1 \(status)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nsec-websocket-accept:  \(accept) \r\n\(extra)\r\n".utf8)
    }

    @Test func validResponseWithoutExtensions() throws {
        let h = ClientHandshake(key: Self.key, offerDeflate: false, acceptValue: webSocketAcceptValue(forKey:))
        #expect(try h.validate(head: response()) == ClientHandshake.Accepted())
    }

    @Test func deflateAndNoContextTakeoverAreRecognised() throws {
        let h = ClientHandshake(key: Self.key, offerDeflate: true, acceptValue: webSocketAcceptValue(forKey:))
        let plain = try h.validate(head: response("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n"))
        #expect(plain == ClientHandshake.Accepted(deflate: true, serverNoContextTakeover: false))
        let noCtx = try h.validate(head: response("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"))
        #expect(noCtx == ClientHandshake.Accepted(deflate: true, serverNoContextTakeover: true))
    }

    @Test func badResponsesAreRejected() {
        let h = ClientHandshake(key: Self.key, offerDeflate: false, acceptValue: webSocketAcceptValue(forKey:))
        #expect(throws: ClientHandshake.Failure.notSwitchingProtocols(statusLine: "HTTP/1.1 404 Not Found")) {
            try h.validate(head: response(status: "404 Not Found"))
        }
        #expect(throws: ClientHandshake.Failure.badAccept) { try h.validate(head: response(accept: "bogus")) }
        #expect(throws: ClientHandshake.Failure.unrequestedExtension("permessage-deflate")) {
            try h.validate(head: response("Sec-WebSocket-Extensions: permessage-deflate\r\n"))
        }
        #expect(throws: ClientHandshake.Failure.missingUpgrade) {
            try h.validate(head: Array("HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: \(Self.accept)\r\n\r\n".utf8))
        }
    }

    @Test func headLengthFindsTheBlankLine() throws {
        #expect(try ClientHandshake.headLength(in: Array("HTTP/1.1 101 X\r\n".utf8)) == nil)
        #expect(try ClientHandshake.headLength(in: Array("HTTP/1.1 101 X\r\n\r\n\u{81}\u{0}".utf8)) == 18)
        #expect(throws: ClientHandshake.Failure.headTooLarge) {
            try ClientHandshake.headLength(in: [UInt8](repeating: 65, count: ClientHandshake.maxHeadSize + 1))
        }
    }
}

@Suite struct FrameTests {
    /// Decodes one header with the codec, then applies the client-side rules.
    private func check(_ bytes: [UInt8], deflate: Bool = false) throws -> WebSocketFrameHeader? {
        var decoder = WebSocketFrameDecoder()
        var index = 0
        let step = try bytes.withUnsafeBytes { try decoder.next($0, index: &index) }
        guard case .header(let header) = step else { return nil }
        try ServerFrameRules.check(header, deflate: deflate)
        return header
    }

    @Test func validServerFramesPass() throws {
        #expect(try check([0x81, 0x03, 0x61, 0x62, 0x63])?.payloadLength == 3)
        #expect(try check([0x82, 126, 0x01, 0x00])?.payloadLength == 256)
        #expect(try check([0x01, 127, 0, 0, 0, 0, 0, 1, 0, 0])?.fin == false)
        #expect(try check([0x89, 0x00])?.opcode == .ping)
        #expect(try check([0xC1, 0x00], deflate: true)?.rsv1 == true)
    }

    @Test func invalidServerFramesAreRefused() {
        #expect(throws: ServerFrameRules.Violation.masked) { try check([0x81, 0x81, 1, 2, 3, 4, 0]) }
        #expect(throws: ServerFrameRules.Violation.reservedBits) { try check([0xC1, 0x00]) }
        #expect(throws: ServerFrameRules.Violation.reservedBits) { try check([0xA1, 0x00], deflate: true) }
        #expect(throws: ServerFrameRules.Violation.unknownOpcode(3)) { try check([0x83, 0x00]) }
        #expect(throws: ServerFrameRules.Violation.badControlFrame) { try check([0x09, 0x00]) }
        #expect(throws: ServerFrameRules.Violation.badControlFrame) { try check([0xC9, 0x00], deflate: true) }
        #expect(throws: ServerFrameRules.Violation.badControlFrame) { try check([0x89, 126, 0, 200]) }
        #expect(throws: ServerFrameRules.Violation.tooLarge(UInt64(Int64.max))) {
            try check([0x82, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        }
    }

    @Test func clientFramesAreMaskedAndCarryThePayload() throws {
        let payload = Array("@@7@@ hello".utf8) + [UInt8](repeating: 0x61, count: 200)
        let frame = clientFrame(opcode: .text, payload: payload)
        var decoder = WebSocketFrameDecoder()
        var index = 0
        var unmasked: [UInt8] = []
        var header: WebSocketFrameHeader?
        try frame.withUnsafeBytes { bytes in
            loop: while true {
                switch try decoder.next(bytes, index: &index) {
                case .header(let h): header = h
                case .payload(let slice, let offset):
                    WebSocketFrameDecoder.unmask(slice, maskKey: header?.maskKey ?? 0, maskOffset: offset, appendingTo: &unmasked)
                case .frameEnd, .needMoreData: break loop
                }
            }
        }
        #expect(header?.masked == true)
        #expect(header?.fin == true)
        #expect(header?.opcode == .text)
        #expect(unmasked == payload)
    }
}

@Suite struct InflaterTests {
    /// Raw-deflates `messages` the way a permessage-deflate server does: one stream,
    /// a sync flush per message, the trailing 00 00 FF FF removed.
    private func deflateMessages(_ messages: [[UInt8]], resetEach: Bool) -> [[UInt8]] {
        var stream = z_stream()
        #expect(czlib_deflateInit2(&stream, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK)
        defer { deflateEnd(&stream) }
        return messages.map { message in
            var input = message
            var output = [UInt8](repeating: 0, count: message.count + 1024)
            let produced = input.withUnsafeMutableBufferPointer { inp in
                output.withUnsafeMutableBufferPointer { out in
                    stream.next_in = inp.baseAddress
                    stream.avail_in = uInt(inp.count)
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    deflate(&stream, Z_SYNC_FLUSH)
                    return out.count - Int(stream.avail_out)
                }
            }
            if resetEach { deflateReset(&stream) }
            #expect(Array(output[(produced - 4)..<produced]) == [0, 0, 0xFF, 0xFF])
            return Array(output[0..<(produced - 4)])
        }
    }

    @Test(arguments: [false, true])
    func roundTripsSeveralMessages(noContextTakeover: Bool) throws {
        let messages = (0..<5).map { Array("@@\($0)@@ ".utf8) + [UInt8](repeating: UInt8(ascii: "q"), count: 3000) }
        let compressed = deflateMessages(messages, resetEach: noContextTakeover)
        let inflater = MessageInflater(noContextTakeover: noContextTakeover)
        var buffer = Array("left over from the previous message".utf8)
        for (original, packed) in zip(messages, compressed) {
            try packed.withUnsafeBytes { try inflater.inflateMessage($0, into: &buffer) }
            #expect(buffer == original)
        }
    }

    @Test func garbageIsAnError() throws {
        let inflater = MessageInflater(noContextTakeover: false)
        var buffer: [UInt8] = []
        #expect(throws: InflateError.corrupt) {
            try [0xFF, 0xFF, 0xFF, 0xFF, 0xFF].withUnsafeBytes { try inflater.inflateMessage($0, into: &buffer) }
        }
    }
}

@Suite struct ReportingTests {
    @Test func rssFromStatus() {
        #expect(ProcStats.parseRSS(status: "Name:\tnode\nVmPeak:\t  999 kB\nVmRSS:\t   51948 kB\nThreads: 7\n") == 51948)
        #expect(ProcStats.parseRSS(status: "Name:\tx\n") == nil)
    }

    @Test func cpuTicksSkipTheCommandName() {
        // The command name contains spaces and a ')'; utime 1500, stime 250.
        let stat = "4242 (my (odd) srv) S 1 4242 4242 0 -1 4194560 100 0 0 0 1500 250 0 0 20 0 7 0 12345 0 0"
        #expect(ProcStats.parseCPUTicks(stat: stat) == 1750)
        #expect(ProcStats.parseCPUTicks(stat: "garbage") == nil)
    }

    @Test func systemCPUExcludesIdleAndIowait() {
        let text = "cpu  100 5 50 1000 20 3 7 0 0 0\ncpu0 1 2 3 4 5 6 7 8\n"
        let parsed = ProcStats.parseSystemCPU(stat: text)
        #expect(parsed?.total == 1185)
        #expect(parsed?.busy == 165)
    }

    @Test func jsonEscapesAndKeepsOrder() {
        var j = JSONLine()
        j.add("label", "a\"b\\c\n\u{1}")
        j.add("n", 3)
        j.add("x", 1.25, decimals: 2)
        j.add("nan", Double.nan)
        var inner = JSONLine()
        inner.add("ok", true)
        j.add("o", object: inner)
        #expect(j.text == #"{"label":"a\"b\\c\n\u0001","n":3,"x":1.25,"nan":null,"o":{"ok":true}}"#)
    }
}
