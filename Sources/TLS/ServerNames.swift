// The names phones may use to reach this machine, and the validation of names given on the
// command line before they go into a certificate.
#if canImport(Glibc)
import Glibc
#endif

/// Host names and IP addresses for a server certificate's subjectAltName.
public struct ServerNames: Equatable, Sendable {
    public private(set) var dnsNames: [String] = []
    public private(set) var ipAddresses: [String] = []

    public init() {}

    /// Validates and adds `names` (host names, `*.` wildcards, IPv4 or IPv6 literals),
    /// skipping duplicates.
    public init(_ names: [String]) throws(CertificateError) {
        for name in names { try add(name) }
    }

    public var all: [String] { dnsNames + ipAddresses }

    public mutating func add(_ name: String) throws(CertificateError) {
        var name = name
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if let ip = IPAddress.canonical(name) {
            if !ipAddresses.contains(ip) { ipAddresses.append(ip) }
            return
        }
        guard Self.isValidHostName(name) else {
            throw CertificateError("'\(name)' is neither a valid host name (letters, digits, hyphens and dots; '*.' wildcard allowed in front) nor an IP address")
        }
        var normalized = name.lowercased()
        if normalized.hasSuffix(".") { normalized.removeLast() }  // "studio.local." is "studio.local"
        if !dnsNames.contains(normalized) { dnsNames.append(normalized) }
    }

    /// RFC 1123 host names, which browsers require in certificates (no underscores, no spaces).
    static func isValidHostName(_ name: String) -> Bool {
        var name = name
        if name.hasSuffix(".") { name.removeLast() }
        if name.hasPrefix("*.") { name.removeFirst(2) }
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-",
                  label.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D })
            else { return false }
        }
        return true
    }

    /// This machine as phones on the LAN see it: its host name (and `<name>.local`, which
    /// phones resolve by mDNS), `localhost`, 127.0.0.1, ::1 and every IPv4 address of an
    /// interface that is up and not loopback.
    public static func thisMachine() -> ServerNames {
        var names = ServerNames()
        var candidates: [String] = []
        if let host = hostName() {
            candidates.append(host)
            if !host.contains(".") { candidates.append(host + ".local") }
        }
        candidates += ["localhost", "127.0.0.1", "::1"] + lanIPv4Addresses()
        for candidate in candidates {
            // A host name that is not valid in a certificate (say with an underscore) is skipped.
            try? names.add(candidate)
        }
        return names
    }

    static func hostName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? nil : name
    }

    static func lanIPv4Addresses() -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var addresses: [String] = []
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            let flags = Int32(bitPattern: entry.pointee.ifa_flags)
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  flags & Int32(IFF_UP) != 0, flags & Int32(IFF_LOOPBACK) == 0 else { continue }
            let bytes = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                withUnsafeBytes(of: sin.pointee.sin_addr) { Array($0) }
            }
            if let text = IPAddress.text(fromNetworkBytes: bytes), !addresses.contains(text) { addresses.append(text) }
        }
        return addresses
    }
}
