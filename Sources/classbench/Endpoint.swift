import Glibc

/// A `ws://` or `wss://host:port/path?query` target, resolved to an IPv4 address once at start
/// so that thousands of connects do no name lookups.
struct Endpoint: Equatable, Sendable {
    enum Failure: Error, CustomStringConvertible, Equatable {
        case unsupportedScheme(String)
        case badPort(String)
        case emptyHost(String)
        case unresolvable(String)
        case notLoopback(String)

        var description: String {
            switch self {
            case .unsupportedScheme(let url): "\(url): only ws:// and wss:// URLs are supported"
            case .badPort(let url): "\(url): the port must be a number between 1 and 65535"
            case .emptyHost(let url): "\(url): missing host"
            case .unresolvable(let host): "cannot resolve host '\(host)' to an IPv4 address"
            case .notLoopback(let host):
                "\(host) is not a loopback address (127.0.0.0/8); benchmarks stay on this machine unless --allow-remote is given"
            }
        }
    }

    let host: String
    let port: UInt16
    /// wss://: TLS between TCP connect and the WebSocket handshake.
    let isSecure: Bool
    /// Request target: path plus query, always starting with "/".
    let target: String
    /// IPv4 address in host byte order.
    let address: UInt32

    var isLoopback: Bool { address >> 24 == 127 }
    /// The host is an IPv4 literal: no SNI for it (RFC 6066), and verification checks an IP SAN.
    var hostIsAddress: Bool { Endpoint.parseIPv4(Substring(host)) != nil }
    var hostHeader: String { "\(host):\(port)" }

    /// Parses and resolves `url`. Non-loopback addresses are refused unless `allowRemote`.
    init(_ url: String, allowRemote: Bool) throws {
        let isSecure: Bool
        let rest: Substring
        if url.hasPrefix("ws://") {
            (isSecure, rest) = (false, url.dropFirst("ws://".count))
        } else if url.hasPrefix("wss://") {
            (isSecure, rest) = (true, url.dropFirst("wss://".count))
        } else {
            throw Failure.unsupportedScheme(url)
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        var target = String(rest.dropFirst(authority.count))
        if target.isEmpty { target = "/" } else if target.hasPrefix("?") { target = "/" + target }

        var host = Substring(authority)
        var port: UInt16 = isSecure ? 443 : 80
        if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let p = UInt16(authority[authority.index(after: colon)...]), p > 0 else { throw Failure.badPort(url) }
            port = p
        }
        guard !host.isEmpty else { throw Failure.emptyHost(url) }

        let address: UInt32
        if host == "localhost" {
            address = 0x7F00_0001
        } else if let literal = Endpoint.parseIPv4(host) {
            address = literal
        } else if allowRemote, let resolved = Endpoint.resolveIPv4(String(host)) {
            address = resolved
        } else if allowRemote {
            throw Failure.unresolvable(String(host))
        } else {
            throw Failure.notLoopback(String(host))
        }
        if !allowRemote && address >> 24 != 127 { throw Failure.notLoopback(String(host)) }

        self.host = String(host)
        self.port = port
        self.isSecure = isSecure
        self.target = target
        self.address = address
    }

    static func parseIPv4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let octet = UInt8(part) else { return nil }
            value = value << 8 | UInt32(octet)
        }
        return value
    }

    private static func resolveIPv4(_ host: String) -> UInt32? {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        guard let sockaddr = first.pointee.ai_addr else { return nil }
        return sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
    }

    /// The socket address to pass to connect().
    var socketAddress: sockaddr_in {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = address.bigEndian
        return sa
    }
}
