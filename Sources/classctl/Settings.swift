// `classctl start` settings: built-in defaults < config file < environment < flags.
import Foundation
import Yams
import HTTPCodec

struct Settings: Equatable {
    var host = "0.0.0.0"
    var port = 8080
    var recordDir = "recordings"
    var code: String?
    var token: String?
    var allowedOrigins: [String] = []
    var leadMs = 300
    var logLevel = "info"
    var logFormat = "text"
    var webRoot: String?
    var publicURL: String?
    var tlsCert: String?
    var tlsKey: String?
    /// A plain-HTTP port that redirects to https (only with TLS).
    var httpRedirectPort: Int?
    /// Reverse proxies whose Forwarded / X-Forwarded-For headers give the client's address.
    var trustedProxies: [String] = []
    /// `classctl serve`: the key instructors and tools need to open classes; `start --server` sends it.
    var studioKey: String?
    /// `classctl serve`: classes open at once, and phones over all of them.
    var maxClasses = 50
    var maxPhones = 19_000
    /// `classctl serve`: the Redis a cluster of nodes shares (docs/cluster.md).
    var redis: String?

    struct Problem: Error, CustomStringConvertible { let description: String }

    static let keys: Set<String> = ["host", "port", "record_dir", "code", "token", "allowed_origins", "lead_ms",
                                    "log_level", "log_format", "web_root", "public_url",
                                    "tls_cert", "tls_key", "http_redirect_port", "trusted_proxies",
                                    "studio_key", "max_classes", "max_phones", "redis"]

    /// Applies a YAML config file (keys as in config/classctl.yaml).
    mutating func apply(configFile path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Problem(description: "cannot read the config file \(path)")
        }
        let node: Any?
        do { node = try Yams.load(yaml: text) } catch {
            throw Problem(description: "\(path): not valid YAML: \(error)")
        }
        guard let map = node as? [String: Any] else {
            if node == nil { return }
            throw Problem(description: "\(path): expected a mapping of settings")
        }
        for key in map.keys where !Settings.keys.contains(key) {
            throw Problem(description: "\(path): unknown setting '\(key)' (known: \(Settings.keys.sorted().joined(separator: ", ")))")
        }
        func str(_ k: String) throws -> String? {
            guard let v = map[k] else { return nil }
            if v is NSNull { return nil }
            if let s = v as? String { return s }
            if let i = v as? Int { return String(i) }
            throw Problem(description: "\(path): '\(k)' must be text")
        }
        func int(_ k: String) throws -> Int? {
            guard let v = map[k] else { return nil }
            if let i = v as? Int { return i }
            throw Problem(description: "\(path): '\(k)' must be a whole number")
        }
        if let v = try str("host") { host = v }
        if let v = try int("port") { port = v }
        if let v = try str("record_dir") { recordDir = v }
        if let v = try str("code") { code = v }
        if let v = try str("token") { token = v }
        if let v = map["allowed_origins"] {
            guard let list = v as? [String] else { throw Problem(description: "\(path): 'allowed_origins' must be a list of origins") }
            allowedOrigins = list
        }
        if let v = try int("lead_ms") { leadMs = v }
        if let v = try str("log_level") { logLevel = v }
        if let v = try str("log_format") { logFormat = v }
        if let v = try str("web_root") { webRoot = v }
        if let v = try str("public_url") { publicURL = v }
        if let v = try str("tls_cert") { tlsCert = v }
        if let v = try str("tls_key") { tlsKey = v }
        if let v = try int("http_redirect_port") { httpRedirectPort = v }
        if let v = try str("studio_key") { studioKey = v }
        if let v = try int("max_classes") { maxClasses = v }
        if let v = try int("max_phones") { maxPhones = v }
        if let v = try str("redis") { redis = v }
        if let v = map["trusted_proxies"], !(v is NSNull) {
            guard let list = v as? [String] else { throw Problem(description: "\(path): 'trusted_proxies' must be a list of addresses or ranges") }
            trustedProxies = list
        }
    }

    /// Applies CLASSCTL_* environment variables.
    mutating func apply(environment env: [String: String]) throws {
        if let v = env["CLASSCTL_HOST"] { host = v }
        if let v = env["CLASSCTL_PORT"] {
            guard let p = Int(v) else { throw Problem(description: "CLASSCTL_PORT must be a number, not '\(v)'") }
            port = p
        }
        if let v = env["CLASSCTL_RECORD_DIR"] { recordDir = v }
        if let v = env["CLASSCTL_CODE"] { code = v }
        if let v = env["CLASSCTL_TOKEN"] { token = v }
        if let v = env["CLASSCTL_ALLOWED_ORIGINS"] { allowedOrigins = v.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        if let v = env["CLASSCTL_LEAD_MS"] {
            guard let p = Int(v) else { throw Problem(description: "CLASSCTL_LEAD_MS must be a number, not '\(v)'") }
            leadMs = p
        }
        if let v = env["CLASSCTL_LOG_LEVEL"] { logLevel = v }
        if let v = env["CLASSCTL_LOG_FORMAT"] { logFormat = v }
        if let v = env["CLASSCTL_WEB_ROOT"] { webRoot = v }
        if let v = env["CLASSCTL_PUBLIC_URL"] { publicURL = v }
        if let v = env["CLASSCTL_TLS_CERT"] { tlsCert = v }
        if let v = env["CLASSCTL_TLS_KEY"] { tlsKey = v }
        if let v = env["CLASSCTL_STUDIO_KEY"] { studioKey = v }
        if let v = env["CLASSCTL_REDIS"], !v.isEmpty { redis = v }
        if let v = env["CLASSCTL_TRUSTED_PROXIES"] {
            trustedProxies = v.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let v = env["CLASSCTL_HTTP_REDIRECT_PORT"] {
            guard let p = Int(v) else { throw Problem(description: "CLASSCTL_HTTP_REDIRECT_PORT must be a number, not '\(v)'") }
            httpRedirectPort = p
        }
    }

    func validate() throws {
        guard (0...65535).contains(port) else { throw Problem(description: "port \(port) is out of range (0-65535)") }
        guard (0...5000).contains(leadMs) else { throw Problem(description: "lead_ms \(leadMs) is out of range (0-5000)") }
        guard ["text", "json"].contains(logFormat) else { throw Problem(description: "log format must be text or json, not '\(logFormat)'") }
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) else {
            throw Problem(description: "unknown log level '\(logLevel)'")
        }
        if let code, code.isEmpty || code.count > 32 || !code.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) {
            throw Problem(description: "join code '\(code)' must be 1-32 letters, digits or '-'")
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw Problem(description: "--tls-cert and --tls-key go together")
        }
        if let p = httpRedirectPort {
            guard tlsCert != nil else { throw Problem(description: "--http-redirect-port needs TLS (--tls-cert and --tls-key)") }
            guard (1...65535).contains(p) else { throw Problem(description: "http_redirect_port \(p) is out of range (1-65535)") }
        }
        if let token, token.utf8.count < 16 {
            throw Problem(description: "the instructor token must be at least 16 characters")
        }
        if let token, Set(token).count < 6 {
            throw Problem(description: "the instructor token repeats too few characters to be hard to guess; use at least 6 different ones (or leave it unset for a random one)")
        }
        if let studioKey, studioKey.utf8.count < 16 {
            throw Problem(description: "the studio key must be at least 16 characters")
        }
        guard maxClasses >= 1, maxPhones >= 1 else { throw Problem(description: "max_classes and max_phones must be at least 1") }
        for p in trustedProxies where IPRange(p) == nil {
            throw Problem(description: "trusted proxy '\(p)' is not an address or a range like 10.0.0.0/8")
        }
    }
}
