// Value types shared by the HTTP parser, the response serializer, the WebSocket
// handshake and the server. No I/O here.

/// Header fields in arrival order. Names compare case-insensitively (RFC 9110 §5.1).
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}
    public init(_ fields: [(String, String)]) {
        for (n, v) in fields { add(n, v) }
    }

    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }

    /// Replaces every field with this name by one field.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        fields.append((name, value))
    }

    public mutating func remove(_ name: String) {
        fields.removeAll { $0.name.lowercasedASCII == name.lowercasedASCII }
    }

    /// The first value of a field, or nil.
    public subscript(_ name: String) -> String? {
        let key = name.lowercasedASCII
        return fields.first { $0.name.lowercasedASCII == key }?.value
    }

    /// Every value of a field (repeated fields kept separate).
    public func values(_ name: String) -> [String] {
        let key = name.lowercasedASCII
        return fields.filter { $0.name.lowercasedASCII == key }.map(\.value)
    }

    /// Comma-separated list elements of every field with this name, trimmed and lowercased
    /// (for token lists such as Connection and Upgrade).
    public func tokens(_ name: String) -> [String] {
        values(name).flatMap { $0.split(separator: ",") }
            .map { $0.trimmingOWS().lowercasedASCII }
            .filter { !$0.isEmpty }
    }

    public func contains(_ name: String) -> Bool { self[name] != nil }

    public var count: Int { fields.count }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    public static func == (a: HTTPHeaders, b: HTTPHeaders) -> Bool {
        a.fields.count == b.fields.count && zip(a.fields, b.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

public enum HTTPVersion: Sendable, Equatable {
    case http1_0, http1_1
    public var text: String { self == .http1_0 ? "HTTP/1.0" : "HTTP/1.1" }
}

/// A parsed request head plus its (small, Content-Length) body.
public struct HTTPRequest: Sendable, Equatable {
    public var method: String          // as sent; methods are case-sensitive (RFC 9110 §9.1)
    public var target: String          // request-target as sent, e.g. "/c/ABC?x=1"
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(method: String, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.method = method; self.target = target; self.version = version; self.headers = headers; self.body = body
    }

    /// The path part of the target, still percent-encoded.
    public var path: String {
        if let q = target.firstIndex(where: { $0 == "?" || $0 == "#" }) { return String(target[..<q]) }
        return target
    }

    /// The query part of the target without "?", or nil.
    public var query: String? {
        guard let q = target.firstIndex(of: "?") else { return nil }
        return String(target[target.index(after: q)...])
    }

    /// Whether the connection stays open after this request (RFC 9112 §9.3).
    public var keepAlive: Bool {
        let conn = headers.tokens("Connection")
        switch version {
        case .http1_1: return !conn.contains("close")
        case .http1_0: return conn.contains("keep-alive")
        }
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var reason: String
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int, reason: String? = nil, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.reason = reason ?? HTTPResponse.reasonPhrase(status)
        self.headers = headers
        self.body = body
    }

    /// A short plain-text response, e.g. for errors.
    public static func text(_ status: Int, _ text: String, headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var h = headers
        h.set("Content-Type", "text/plain; charset=utf-8")
        return HTTPResponse(status: status, headers: h, body: Array((text + "\n").utf8))
    }

    /// 405 with the `Allow` header RFC 9110 §15.5.6 requires: the methods the resource supports.
    public static func methodNotAllowed(allow: String) -> HTTPResponse {
        var h = HTTPHeaders(); h.add("Allow", allow)
        return .text(405, "method not allowed", headers: h)
    }

    /// Serializes head and body. Adds Content-Length unless the status forbids a body
    /// (1xx, 204, 304) or the caller set it. With `headOnly` (HEAD) the body is omitted but
    /// Content-Length still describes it.
    public func serialize(headOnly: Bool = false) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(128 + body.count)
        out.append(contentsOf: "HTTP/1.1 \(status) \(reason)\r\n".utf8)
        let bodyless = status < 200 || status == 204 || status == 304
        for (n, v) in headers.fields {
            out.append(contentsOf: n.utf8); out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: v.utf8); out.append(contentsOf: "\r\n".utf8)
        }
        if !bodyless && !headers.contains("Content-Length") {
            out.append(contentsOf: "Content-Length: \(body.count)\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
        if !headOnly && !bodyless { out.append(contentsOf: body) }
        return out
    }

    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 426: return "Upgrade Required"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}

extension StringProtocol {
    /// ASCII-only lowercasing: header names and tokens are ASCII, and Foundation's
    /// locale-aware lowercased() is slower and not needed.
    public var lowercasedASCII: String {
        String(decoding: self.utf8.map { ($0 >= 65 && $0 <= 90) ? $0 + 32 : $0 }, as: UTF8.self)
    }

    /// Trims optional whitespace (SP / HTAB) at both ends (RFC 9110 §5.6.3).
    public func trimmingOWS() -> Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
