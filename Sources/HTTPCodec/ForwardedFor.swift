// The client's address behind reverse proxies: `Forwarded` (RFC 7239) or `X-Forwarded-For`,
// believed only as far as the hops are proxies the operator trusts. Pure: no sockets.
#if canImport(Glibc)
import Glibc
#endif

/// An address range such as `10.0.0.0/8`, `127.0.0.1` or `fd00::/8`.
public struct IPRange: Sendable, Equatable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 (IPv6).
    let network: [UInt8]
    let prefixLength: Int
    public let description: String

    /// Parses `ADDRESS` or `ADDRESS/PREFIX`; nil when it is neither.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bytes = IPRange.parseAddress(String(parts[0])) else { return nil }
        let maxPrefix = bytes.count * 8
        var prefix = maxPrefix
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...maxPrefix).contains(p) else { return nil }
            prefix = p
        }
        network = bytes
        prefixLength = prefix
        description = text
    }

    /// Whether `address` (text, as a socket or a header gives it) lies in this range. An
    /// IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) matches IPv4 ranges.
    public func contains(_ address: String) -> Bool {
        guard var bytes = IPRange.parseAddress(address) else { return false }
        if bytes.count == 16, network.count == 4, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            bytes = Array(bytes[12...])
        }
        guard bytes.count == network.count else { return false }
        var bits = prefixLength
        for i in 0..<bytes.count where bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xff : ~(0xff >> UInt8(bits))
            if bytes[i] & mask != network[i] & mask { return false }
            bits -= 8
        }
        return true
    }

    /// IPv4 dotted quad or IPv6 text (brackets and a zone allowed) to bytes.
    static func parseAddress(_ text: String) -> [UInt8]? {
        var t = Substring(text)
        if t.hasPrefix("[") && t.hasSuffix("]") { t = t.dropFirst().dropLast() }
        if let zone = t.firstIndex(of: "%") { t = t[..<zone] }
        guard !t.isEmpty, t.count <= 45 else { return nil }
        if t.contains(":") {
            var a = in6_addr()
            guard inet_pton(AF_INET6, String(t), &a) == 1 else { return nil }
            return withUnsafeBytes(of: &a) { Array($0) }
        }
        var a = in_addr()
        guard inet_pton(AF_INET, String(t), &a) == 1 else { return nil }
        return withUnsafeBytes(of: &a) { Array($0) }
    }
}

public enum ForwardedFor {
    /// The client's address for a request that reached us from `peer`. When `peer` is a
    /// trusted proxy, the forwarding chain is walked from the nearest hop back, past every
    /// trusted proxy, and the first hop that is not one is the client; a chain that is all
    /// proxies yields its first entry. Anything unparsable stops the walk at the last hop we
    /// could believe, so a client cannot forge an address by sending the header itself.
    public static func clientAddress(peer: String, headers: HTTPHeaders, trusted: [IPRange]) -> String {
        guard !trusted.isEmpty, isTrusted(peer, trusted) else { return peer }
        let chain: [String]
        let forwarded = headers.values("Forwarded"), xff = headers.values("X-Forwarded-For")
        if !forwarded.isEmpty {
            chain = forwardedFor(forwarded)
        } else if !xff.isEmpty {
            chain = xff.flatMap { $0.split(separator: ",") }.map { String($0.trimmingOWS()) }
        } else {
            return peer
        }
        var client = peer
        for hop in chain.reversed() {
            guard let address = normalized(hop) else { break }
            client = address
            if !isTrusted(address, trusted) { break }
        }
        return client
    }

    static func isTrusted(_ address: String, _ trusted: [IPRange]) -> Bool {
        trusted.contains { $0.contains(address) }
    }

    /// The `for=` values of every `Forwarded` element, in order (RFC 7239 section 4).
    static func forwardedFor(_ values: [String]) -> [String] {
        var out: [String] = []
        for value in values {
            for element in value.split(separator: ",") {
                for pair in element.split(separator: ";") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2, kv[0].trimmingOWS().lowercasedASCII == "for" else { continue }
                    var v = String(kv[1].trimmingOWS())
                    if v.hasPrefix("\""), v.hasSuffix("\""), v.count >= 2 { v = String(v.dropFirst().dropLast()) }
                    out.append(v)
                }
            }
        }
        return out
    }

    /// An address from a header hop: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:4711`,
    /// `2001:db8::1`. nil for `unknown`, obfuscated identifiers (`_hidden`) and garbage.
    static func normalized(_ hop: String) -> String? {
        var h = Substring(hop)
        if h.hasPrefix("[") {
            guard let close = h.firstIndex(of: "]") else { return nil }
            h = h[h.index(after: h.startIndex)..<close]
        } else if h.filter({ $0 == ":" }).count == 1, let colon = h.firstIndex(of: ":") {
            h = h[..<colon]   // IPv4 with a port
        }
        let text = String(h)
        return IPRange.parseAddress(text) == nil ? nil : text
    }
}
