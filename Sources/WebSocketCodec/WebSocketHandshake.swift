// The server side of the RFC 6455 opening handshake (§4.2): validate the upgrade request,
// check the Origin, negotiate permessage-deflate and build the 101 or the error response.
// The fuzzers compile HTTPCodec and this module's sources as one module, where there is nothing to import.
#if canImport(HTTPCodec)
import HTTPCodec
#endif

public struct WebSocketHandshakeConfig: Sendable {
    /// Exact origins such as "https://example.org" that may open a WebSocket besides the
    /// server's own origin; "*" allows any.
    public var allowedOrigins: [String]
    public var enableDeflate: Bool
    /// Ask clients to compress every message independently (client_no_context_takeover,
    /// RFC 7692 §7.1.1.2): the server can then drop a connection's inflater (about 40 KiB of
    /// zlib state) after each message instead of keeping it for the connection's lifetime.
    public var requireClientNoContextTakeover: Bool

    public init(allowedOrigins: [String] = [], enableDeflate: Bool = true, requireClientNoContextTakeover: Bool = true) {
        self.allowedOrigins = allowedOrigins
        self.enableDeflate = enableDeflate
        self.requireClientNoContextTakeover = requireClientNoContextTakeover
    }
}

public struct WebSocketHandshakeAccepted: Sendable {
    public var response: HTTPResponse
    public var deflate: DeflateParameters?
}

public struct WebSocketHandshakeRejected: Error, Sendable {
    public var response: HTTPResponse
}

public enum WebSocketHandshake {
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// Validates an upgrade request and answers it. Origin: an absent Origin (a non-browser
    /// client) is allowed; a present one must be the request's own origin (scheme from
    /// `secure`, the Host header) or listed in `allowedOrigins`, else 403. This stops
    /// cross-site WebSocket hijacking, which browsers do not prevent by themselves.
    public static func accept(_ request: HTTPRequest, config: WebSocketHandshakeConfig, secure: Bool) -> Result<WebSocketHandshakeAccepted, WebSocketHandshakeRejected> {
        func reject(_ status: Int, _ message: String, headers: HTTPHeaders = HTTPHeaders()) -> Result<WebSocketHandshakeAccepted, WebSocketHandshakeRejected> {
            .failure(WebSocketHandshakeRejected(response: .text(status, message, headers: headers)))
        }
        let h = request.headers
        guard request.method == "GET" else { return reject(400, "WebSocket upgrade requires GET") }
        guard request.version == .http1_1 else { return reject(400, "WebSocket upgrade requires HTTP/1.1") }
        guard h.tokens("Upgrade").contains("websocket") else { return reject(400, "missing Upgrade: websocket") }
        guard h.tokens("Connection").contains("upgrade") else { return reject(400, "missing Connection: upgrade") }
        let versions = h.values("Sec-WebSocket-Version").map { String($0.trimmingOWS()) }
        guard versions == ["13"] else {
            return reject(426, "unsupported Sec-WebSocket-Version (13 required)", headers: HTTPHeaders([("Sec-WebSocket-Version", "13")]))
        }
        let keys = h.values("Sec-WebSocket-Key")
        guard keys.count == 1, let key = keys.first.map({ String($0.trimmingOWS()) }),
              let decoded = Base64.decode(key), decoded.count == 16 else {
            return reject(400, "Sec-WebSocket-Key must be the base64 of 16 bytes")
        }
        guard let host = h["Host"].map({ String($0.trimmingOWS()) }), !host.isEmpty else { return reject(400, "missing Host") }
        if let origin = h["Origin"] {
            guard originAllowed(String(origin.trimmingOWS()), host: host, secure: secure, allowed: config.allowedOrigins) else {
                return reject(403, "origin not allowed")
            }
        }

        var headers = HTTPHeaders()
        headers.add("Upgrade", "websocket")
        headers.add("Connection", "Upgrade")
        headers.add("Sec-WebSocket-Accept", acceptValue(forKey: key))
        var deflate: DeflateParameters?
        if config.enableDeflate,
           let (params, value) = PermessageDeflateNegotiation.negotiate(h.values("Sec-WebSocket-Extensions"),
                                                                         requireClientNoContextTakeover: config.requireClientNoContextTakeover) {
            deflate = params
            headers.add("Sec-WebSocket-Extensions", value)
        }
        return .success(WebSocketHandshakeAccepted(response: HTTPResponse(status: 101, headers: headers), deflate: deflate))
    }

    /// base64(SHA-1(key + GUID)), RFC 6455 §1.3.
    public static func acceptValue(forKey key: String) -> String {
        Base64.encode(SHA1.hash(Array((key + guid).utf8)))
    }

    /// Origins compare as lowercase ASCII with default ports removed (RFC 6454 serialisation).
    static func originAllowed(_ origin: String, host: String, secure: Bool, allowed: [String]) -> Bool {
        if allowed.contains("*") { return true }
        let o = normalizeOrigin(origin)
        if o == normalizeOrigin((secure ? "https://" : "http://") + host) { return true }
        return allowed.contains { normalizeOrigin($0) == o }
    }

    private static func normalizeOrigin(_ origin: String) -> String {
        var s = origin.lowercasedASCII
        while s.hasSuffix("/") { s.removeLast() }
        if s.hasPrefix("https://"), s.hasSuffix(":443") { s.removeLast(4) }
        if s.hasPrefix("http://"), s.hasSuffix(":80") { s.removeLast(3) }
        return s
    }
}
