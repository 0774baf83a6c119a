// `redis://[[user]:password@]host[:port][/db]`, the form `classctl serve --redis` takes
// (the IANA "redis" scheme, as redis-cli -u and most clients read it).

/// Why a Redis URL was refused, in words fit for a command line error.
public struct RedisURLError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Where a Redis server is and how to log in. `description` hides the password.
public struct RedisURL: Equatable, Sendable, CustomStringConvertible {
    /// A name or a numeric address (IPv6 without brackets).
    public var host: String
    public var port: Int
    /// Redis 6 ACL user; nil logs in as `default` (`AUTH password`).
    public var username: String?
    /// nil: no AUTH is sent.
    public var password: String?
    /// Database number for SELECT (0, the default, sends none).
    public var database: Int

    public init(host: String, port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses `redis://host`, `redis://host:6380/2`, `redis://:secret@host`,
    /// `redis://user:secret@[::1]:6379/0`. User and password may be percent-encoded
    /// (`%40` for `@`); a password holding `@` unencoded also works (the last `@` ends it).
    public init(_ text: String) throws(RedisURLError) {
        let lower = text.lowercased()
        if lower.hasPrefix("rediss://") { throw RedisURLError("rediss:// (Redis over TLS) is not supported; use redis://") }
        guard lower.hasPrefix("redis://") else {
            throw RedisURLError("a Redis URL starts with redis:// (redis://[:password@]host[:port][/db]), not '\(RedisURL.masked(text))'")
        }
        var rest = Substring(text.dropFirst("redis://".count))

        // Userinfo: up to the last '@' (a password may hold '@'); everything after is host, port, path.
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            guard let colon = userinfo.firstIndex(of: ":") else {
                throw RedisURLError("a Redis URL's user needs a password: redis://user:password@host or redis://:password@host")
            }
            let user = try RedisURL.percentDecoded(userinfo[..<colon], what: "user name")
            let pass = try RedisURL.percentDecoded(userinfo[userinfo.index(after: colon)...], what: "password")
            username = user.isEmpty ? nil : user
            password = pass
            if pass.isEmpty {
                if username != nil { throw RedisURLError("the Redis URL gives a user name but an empty password") }
                password = nil
            }
        }

        // (Checked after the userinfo: a password may hold them.)
        if rest.contains("?") || rest.contains("#") {
            throw RedisURLError("query parameters and fragments are not supported in a Redis URL (give the database as /db)")
        }

        // Path: "/db" or nothing.
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard path.allSatisfy({ $0.isASCII && $0.isNumber }), path.count <= 9, let n = Int(path) else {
                    throw RedisURLError("the Redis database must be a number (redis://host:6379/0), not '\(path)'")
                }
                database = n
            }
        }

        // Host and port: "[v6]:port", "host:port", "host".
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw RedisURLError("unclosed '[' in the Redis URL's host") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw RedisURLError("unexpected '\(after)' after the Redis URL's host") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.firstIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw RedisURLError("the Redis URL has no host (redis://host:6379)") }
        guard !host.contains(where: { $0 == " " || $0 == "%" || $0 == "[" || $0 == "]" }) else {
            throw RedisURLError("'\(host)' is not a valid Redis host")
        }
        var port = 6379
        if let p = portText {
            guard !p.isEmpty, p.count <= 5, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(p), (1...65535).contains(n) else {
                throw RedisURLError("the Redis port must be a number from 1 to 65535, not '\(p)'")
            }
            port = n
        }
        self.init(host: String(host), port: port, username: username, password: password, database: database)
    }

    /// `redis://:***@host:6379/0`: safe for logs.
    public var description: String {
        var s = "redis://"
        if password != nil { s += "\(username ?? ""):***@" }
        s += host.contains(":") ? "[\(host)]" : host
        s += ":\(port)/\(database)"
        return s
    }

    private static func masked(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@") else { return text }
        return "***" + text[at...]
    }

    private static func percentDecoded(_ s: Substring, what: String) throws(RedisURLError) -> String {
        guard s.contains("%") else { return String(s) }
        var out: [UInt8] = []
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) else {
                    throw RedisURLError("bad percent-encoding in the Redis URL's \(what)")
                }
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
