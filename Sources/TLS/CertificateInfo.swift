// What a certificate says about itself (names, validity), and the warnings worth printing at
// startup: a certificate that browsers will reject fails late and confusingly on the phones.
import COpenSSL
import Foundation

public struct CertificateInfo: Sendable, Equatable {
    /// RFC 2253 form, e.g. "CN=studio.local,O=classctl".
    public var subject: String
    public var issuer: String
    /// subjectAltName DNS entries, as written (may include wildcards like "*.example.org").
    public var dnsNames: [String]
    /// subjectAltName IP entries, in canonical text form ("192.168.1.20", "::1").
    public var ipAddresses: [String]
    public var notBefore: Date
    public var notAfter: Date

    public init(subject: String, issuer: String, dnsNames: [String], ipAddresses: [String], notBefore: Date, notAfter: Date) {
        self.subject = subject
        self.issuer = issuer
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
        self.notBefore = notBefore
        self.notAfter = notAfter
    }

    /// Reads an `X509 *` without taking ownership.
    init(x509: OpaquePointer) {
        subject = CertificateInfo.name(X509_get_subject_name(x509))
        issuer = CertificateInfo.name(X509_get_issuer_name(x509))
        notBefore = CertificateInfo.date(X509_get0_notBefore(x509)) ?? Date(timeIntervalSince1970: 0)
        notAfter = CertificateInfo.date(X509_get0_notAfter(x509)) ?? Date(timeIntervalSince1970: 0)
        var dns: [String] = []
        var ips: [String] = []
        if let raw = X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil) {
            let names = OpaquePointer(raw)
            for i in 0..<max(0, copenssl_sk_GENERAL_NAME_num(names)) {
                guard let entry = copenssl_sk_GENERAL_NAME_value(names, i) else { continue }
                switch entry.pointee.type {
                case GEN_DNS:
                    if let s = CertificateInfo.bytes(entry.pointee.d.dNSName) { dns.append(String(decoding: s, as: UTF8.self)) }
                case GEN_IPADD:
                    if let s = CertificateInfo.bytes(entry.pointee.d.iPAddress), let text = IPAddress.text(fromNetworkBytes: s) {
                        ips.append(text)
                    }
                default:
                    break
                }
            }
            GENERAL_NAMES_free(names)
        }
        dnsNames = dns
        ipAddresses = ips
    }

    /// Problems a browser would report for these host names at `now`: expired, not yet valid,
    /// expiring within two weeks, a name or IP not among the subjectAltNames.
    public func warnings(forHostNames hostNames: [String], now: Date) -> [String] {
        var warnings: [String] = []
        let day: TimeInterval = 86_400
        if now > notAfter {
            let days = Int((now.timeIntervalSince(notAfter) / day).rounded(.down))
            warnings.append("the certificate expired on \(Self.day(notAfter)) (\(days) days ago): browsers will refuse it; renew it (classctl cert for a local CA)")
        } else if now < notBefore {
            warnings.append("the certificate is not valid before \(Self.day(notBefore)): check this machine's clock (and the phones')")
        } else if notAfter.timeIntervalSince(now) < 14 * day {
            let days = Int((notAfter.timeIntervalSince(now) / day).rounded(.down))
            warnings.append("the certificate expires in \(days) days, on \(Self.day(notAfter)): renew it soon")
        }
        if dnsNames.isEmpty && ipAddresses.isEmpty {
            warnings.append("the certificate has no subjectAltName: browsers ignore the subject's CN and will refuse it")
        }
        for host in hostNames where !covers(host) {
            let covered = (dnsNames + ipAddresses).joined(separator: ", ")
            warnings.append("'\(host)' is not covered by the certificate (it covers: \(covered.isEmpty ? "nothing" : covered)): phones opening https://\(host) will see a certificate warning")
        }
        return warnings
    }

    /// Whether `host` (a DNS name or an IP address literal, optionally in [brackets]) is among
    /// the subjectAltNames. Wildcards match exactly one left-most label, as browsers do.
    public func covers(_ host: String) -> Bool {
        var host = host
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let ip = IPAddress.canonical(host) {
            return ipAddresses.contains { IPAddress.canonical($0) == ip }
        }
        let name = Self.normalized(host)
        return dnsNames.contains { pattern in
            let pattern = Self.normalized(pattern)
            if pattern == name { return true }
            guard pattern.hasPrefix("*."), let dot = name.firstIndex(of: ".") else { return false }
            return !name[..<dot].isEmpty && name[name.index(after: dot)...] == pattern.dropFirst(2)
        }
    }

    private static func normalized(_ name: String) -> String {
        var name = name.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }

    private static func day(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter.string(from: date)
    }

    private static func name(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        return MemoryBIO.text { X509_NAME_print_ex($0, name, 0, copenssl_XN_FLAG_RFC2253()) >= 0 } ?? ""
    }

    private static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    private static func bytes(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> [UInt8]? {
        guard let string, let data = ASN1_STRING_get0_data(string) else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: Int(max(0, ASN1_STRING_length(string)))))
    }
}

/// IP address literals: recognising them and comparing them in canonical form.
enum IPAddress {
    /// The canonical text of an IPv4 or IPv6 literal ("::1", "10.0.0.2"), or nil for a host name.
    static func canonical(_ text: String) -> String? {
        if let bytes = networkBytes(text) { return self.text(fromNetworkBytes: bytes) }
        return nil
    }

    /// 4 or 16 bytes in network order, or nil if `text` is not an IP literal.
    static func networkBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func text(fromNetworkBytes bytes: [UInt8]) -> String? {
        let family: Int32
        switch bytes.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let ok = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil }
        return ok ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }
}
