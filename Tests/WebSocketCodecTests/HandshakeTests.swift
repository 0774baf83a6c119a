import Testing
import HTTPCodec
@testable import WebSocketCodec

@Suite struct HandshakeTests {
    static let key = "dGhlIHNhbXBsZSBub25jZQ=="

    static func request(_ extra: [(String, String)] = [], removing: [String] = [], method: String = "GET", version: HTTPVersion = .http1_1) -> HTTPRequest {
        var h = HTTPHeaders([("Host", "server.example.com"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                             ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")])
        for name in removing { h.remove(name) }
        for (n, v) in extra { h.set(n, v) }
        return HTTPRequest(method: method, target: "/chat", version: version, headers: h)
    }

    static func status(_ r: HTTPRequest, config: WebSocketHandshakeConfig = WebSocketHandshakeConfig(), secure: Bool = false) -> Int {
        switch WebSocketHandshake.accept(r, config: config, secure: secure) {
        case .success(let a): return a.response.status
        case .failure(let e): return e.response.status
        }
    }

    @Test func rfcAcceptValue() {
        #expect(WebSocketHandshake.acceptValue(forKey: Self.key) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func sha1Vectors() {
        func hexString(_ b: [UInt8]) -> String { b.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
        #expect(hexString(SHA1.hash([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(hexString(SHA1.hash(bytes("abc"))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hexString(SHA1.hash(bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    }

    @Test func base64() {
        #expect(Base64.encode(bytes("")) == "")
        #expect(Base64.encode(bytes("f")) == "Zg==")
        #expect(Base64.encode(bytes("fo")) == "Zm8=")
        #expect(Base64.encode(bytes("foobar")) == "Zm9vYmFy")
        #expect(Base64.decode("Zm9vYg==") == bytes("foob"))
        #expect(Base64.decode("Zm9vYg=") == nil)
        #expect(Base64.decode("Zm9v!mFy") == nil)
        #expect(Base64.decode("Zg==Zg==") == nil)
        #expect(Base64.decode("Z===") == nil)
    }

    @Test func acceptsRFCExample() throws {
        let result = WebSocketHandshake.accept(Self.request(), config: WebSocketHandshakeConfig(), secure: false)
        let accepted = try result.get()
        #expect(accepted.response.status == 101)
        #expect(accepted.response.headers["Upgrade"] == "websocket")
        #expect(accepted.response.headers["Connection"] == "Upgrade")
        #expect(accepted.response.headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(accepted.response.headers["Sec-WebSocket-Extensions"] == nil)
        #expect(accepted.deflate == nil)
        let wire = String(decoding: accepted.response.serialize(), as: UTF8.self)
        #expect(wire.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        #expect(!wire.contains("Content-Length"))
    }

    @Test func tokenListsAreCaseInsensitive() {
        #expect(Self.status(Self.request([("Upgrade", "WebSocket"), ("Connection", "keep-alive, Upgrade")])) == 101)
        #expect(Self.status(Self.request([("Connection", "keep-alive")])) == 400)
        #expect(Self.status(Self.request([("Upgrade", "h2c")])) == 400)
        #expect(Self.status(Self.request(removing: ["Upgrade"])) == 400)
    }

    @Test func methodAndVersion() {
        #expect(Self.status(Self.request(method: "POST")) == 400)
        #expect(Self.status(Self.request(version: .http1_0)) == 400)
        #expect(Self.status(Self.request(removing: ["Host"])) == 400)
    }

    @Test func versionMustBe13() throws {
        let r = Self.request([("Sec-WebSocket-Version", "8")])
        guard case .failure(let rejected) = WebSocketHandshake.accept(r, config: WebSocketHandshakeConfig(), secure: false) else {
            Issue.record("accepted version 8"); return
        }
        #expect(rejected.response.status == 426)
        #expect(rejected.response.headers["Sec-WebSocket-Version"] == "13")
        #expect(Self.status(Self.request(removing: ["Sec-WebSocket-Version"])) == 426)
    }

    @Test(arguments: ["", "abc", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ==x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "dGhlIHNhbXBsZSBub25j", "!!!!!!!!!!!!!!!!!!!!!!=="])
    func badKeysAre400(_ key: String) {
        #expect(Self.status(Self.request([("Sec-WebSocket-Key", key)])) == 400)
    }

    @Test func missingKeyIs400() {
        #expect(Self.status(Self.request(removing: ["Sec-WebSocket-Key"])) == 400)
    }

    @Test func originPolicy() {
        let config = WebSocketHandshakeConfig(allowedOrigins: ["https://classes.example.org"])
        #expect(Self.status(Self.request(), config: config) == 101)                                          // no Origin
        #expect(Self.status(Self.request([("Origin", "http://server.example.com")]), config: config) == 101)  // same origin
        #expect(Self.status(Self.request([("Origin", "https://server.example.com")]), config: config) == 403) // scheme differs
        #expect(Self.status(Self.request([("Origin", "https://server.example.com")]), config: config, secure: true) == 101)
        #expect(Self.status(Self.request([("Origin", "https://Server.Example.com:443")]), config: config, secure: true) == 101)
        #expect(Self.status(Self.request([("Origin", "https://classes.example.org")]), config: config) == 101)  // listed
        #expect(Self.status(Self.request([("Origin", "https://evil.example.net")]), config: config) == 403)
        #expect(Self.status(Self.request([("Origin", "null")]), config: config) == 403)
        #expect(Self.status(Self.request([("Origin", "https://evil.example.net")]), config: WebSocketHandshakeConfig(allowedOrigins: ["*"])) == 101)
    }

    // MARK: - permessage-deflate negotiation (RFC 7692 §7.1)

    /// (offer header, expected Sec-WebSocket-Extensions or nil for declined, expected parameters)
    static let table: [(String, String?, DeflateParameters?)] = [
        ("permessage-deflate", "permessage-deflate; server_no_context_takeover", DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15)),
        ("permessage-deflate; client_max_window_bits", "permessage-deflate; server_no_context_takeover", DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15)),
        ("permessage-deflate; client_max_window_bits=10", "permessage-deflate; server_no_context_takeover", DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 10)),
        ("permessage-deflate; client_no_context_takeover", "permessage-deflate; server_no_context_takeover; client_no_context_takeover", DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15)),
        ("permessage-deflate; server_no_context_takeover", "permessage-deflate; server_no_context_takeover", DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15)),
        ("permessage-deflate; server_max_window_bits=10", "permessage-deflate; server_no_context_takeover; server_max_window_bits=10", DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 10, clientMaxWindowBits: 15)),
        ("permessage-deflate; server_max_window_bits=\"9\"", "permessage-deflate; server_no_context_takeover; server_max_window_bits=9", DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 9, clientMaxWindowBits: 15)),
        ("PerMessage-Deflate ; Server_Max_Window_Bits = 8", "permessage-deflate; server_no_context_takeover; server_max_window_bits=8", DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 8, clientMaxWindowBits: 15)),
        // Declined offers: no extension.
        ("permessage-deflate; server_max_window_bits", nil, nil),            // value required
        ("permessage-deflate; server_max_window_bits=7", nil, nil),
        ("permessage-deflate; server_max_window_bits=16", nil, nil),
        ("permessage-deflate; server_max_window_bits=010", nil, nil),
        ("permessage-deflate; client_max_window_bits=abc", nil, nil),
        ("permessage-deflate; server_no_context_takeover=1", nil, nil),       // no value allowed
        ("permessage-deflate; client_no_context_takeover; client_no_context_takeover", nil, nil),   // duplicate
        ("permessage-deflate; foo", nil, nil),                               // unknown parameter
        ("permessage-deflate; server_max_window_bits=\"1 0\"", nil, nil),    // not a token once unquoted
        ("x-webkit-deflate-frame", nil, nil),
        ("", nil, nil),
        // The first acceptable offer wins.
        ("permessage-deflate; foo, permessage-deflate; server_max_window_bits=12", "permessage-deflate; server_no_context_takeover; server_max_window_bits=12", DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 12, clientMaxWindowBits: 15)),
        ("foo; a=\"x,y\", permessage-deflate; server_max_window_bits=9; client_max_window_bits, permessage-deflate", "permessage-deflate; server_no_context_takeover; server_max_window_bits=9", DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 9, clientMaxWindowBits: 15)),
    ]

    @Test func negotiationTable() throws {
        let config = WebSocketHandshakeConfig(requireClientNoContextTakeover: false)
        for (offer, expectedHeader, expectedParams) in Self.table {
            let accepted = try WebSocketHandshake.accept(Self.request([("Sec-WebSocket-Extensions", offer)]), config: config, secure: false).get()
            #expect(accepted.response.headers["Sec-WebSocket-Extensions"] == expectedHeader, "offer: \(offer)")
            #expect(accepted.deflate == expectedParams, "offer: \(offer)")
        }
    }

    @Test func offersAcrossSeveralHeaderFields() throws {
        var r = Self.request()
        r.headers.add("Sec-WebSocket-Extensions", "permessage-deflate; bogus")
        r.headers.add("Sec-WebSocket-Extensions", "permessage-deflate; client_no_context_takeover")
        let accepted = try WebSocketHandshake.accept(r, config: WebSocketHandshakeConfig(requireClientNoContextTakeover: false), secure: false).get()
        #expect(accepted.deflate?.clientNoContextTakeover == true)
    }

    @Test func defaultConfigAsksClientNotToKeepContext() throws {
        // Chromium's offer.
        let r = Self.request([("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")])
        let accepted = try WebSocketHandshake.accept(r, config: WebSocketHandshakeConfig(), secure: false).get()
        #expect(accepted.response.headers["Sec-WebSocket-Extensions"] == "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        #expect(accepted.deflate?.clientNoContextTakeover == true)
    }

    @Test func deflateCanBeDisabled() throws {
        let r = Self.request([("Sec-WebSocket-Extensions", "permessage-deflate")])
        let accepted = try WebSocketHandshake.accept(r, config: WebSocketHandshakeConfig(enableDeflate: false), secure: false).get()
        #expect(accepted.deflate == nil)
        #expect(accepted.response.headers["Sec-WebSocket-Extensions"] == nil)
    }
}
