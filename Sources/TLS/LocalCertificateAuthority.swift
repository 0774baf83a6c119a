// A small certificate authority for a class on a LAN: phones trust its certificate once, and
// it signs short-lived server certificates for this machine's names and addresses.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

public struct LocalCertificateAuthority: Sendable {
    public let certificate: TLSCertificate
    public let key: TLSPrivateKey

    /// Browsers refuse server certificates valid for longer (Apple's and Chrome's 398-day rule).
    public static let maximumServerValidityDays = 397
    public static let authorityValidityDays = 3650

    public init(certificate: TLSCertificate, key: TLSPrivateKey) throws(CertificateError) {
        guard certificate.matches(key) else { throw CertificateError("the CA key does not match the CA certificate") }
        self.certificate = certificate
        self.key = key
    }

    /// A new self-signed CA (ECDSA P-256 by default, 10 years).
    public static func create(commonName: String, algorithm: KeyAlgorithm = .ecdsaP256,
                              validityDays: Int = authorityValidityDays, now: Date = Date()) throws(CertificateError) -> LocalCertificateAuthority {
        let key = try TLSPrivateKey.generate(algorithm)
        let template = CertificateTemplate(commonName: commonName, organization: "classctl", role: .authority,
                                           notBefore: now.addingTimeInterval(-3600),
                                           notAfter: now.addingTimeInterval(TimeInterval(validityDays) * 86_400))
        let certificate = try template.sign(subjectKey: key, issuer: nil, signingKey: key)
        return try LocalCertificateAuthority(certificate: certificate, key: key)
    }

    /// A server certificate for `names`: serverAuth, digitalSignature, the names as
    /// subjectAltNames, valid from an hour ago (phones with a slow clock) for `validityDays`.
    public func issueServerCertificate(for names: ServerNames, algorithm: KeyAlgorithm = .ecdsaP256,
                                       validityDays: Int = maximumServerValidityDays,
                                       now: Date = Date()) throws(CertificateError) -> (certificate: TLSCertificate, key: TLSPrivateKey) {
        guard (1...Self.maximumServerValidityDays).contains(validityDays) else {
            throw CertificateError("a server certificate may be valid for 1 to \(Self.maximumServerValidityDays) days (browsers refuse longer), not \(validityDays)")
        }
        guard !names.all.isEmpty else { throw CertificateError("a server certificate needs at least one host name or IP address") }
        // CN is at most 64 characters; browsers read only the subjectAltNames anyway.
        let commonName = names.dnsNames.first { $0.utf8.count <= 64 } ?? names.ipAddresses.first ?? "classctl server"
        let key = try TLSPrivateKey.generate(algorithm)
        let template = CertificateTemplate(commonName: commonName, organization: nil,
                                           role: .server(dnsNames: names.dnsNames, ipAddresses: names.ipAddresses),
                                           notBefore: now.addingTimeInterval(-3600),
                                           notAfter: now.addingTimeInterval(TimeInterval(validityDays) * 86_400))
        return (try template.sign(subjectKey: key, issuer: certificate, signingKey: self.key), key)
    }

    // MARK: The directory `classctl cert` manages

    /// ca.pem, ca-key.pem, server.pem (server certificate then the CA), server-key.pem.
    public struct Files: Sendable, Equatable {
        public let directory: String
        public var authorityCertificate: String { directory + "/ca.pem" }
        public var authorityKey: String { directory + "/ca-key.pem" }
        public var serverCertificate: String { directory + "/server.pem" }
        public var serverKey: String { directory + "/server-key.pem" }

        public init(directory: String) {
            var directory = directory
            while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
            self.directory = directory
        }
    }

    /// Loads the CA in `files.directory`, or creates it (and the directory, mode 0700) when
    /// neither ca.pem nor ca-key.pem exists. `warnings` reports a CA key readable by others.
    public static func openOrCreate(_ files: Files, now: Date = Date()) throws(CertificateError) -> (authority: LocalCertificateAuthority, created: Bool, warnings: [String]) {
        let fm = FileManager.default
        let haveCertificate = fm.fileExists(atPath: files.authorityCertificate)
        let haveKey = fm.fileExists(atPath: files.authorityKey)
        switch (haveCertificate, haveKey) {
        case (true, true):
            let authority = try load(files, now: now)
            var warnings: [String] = []
            if let mode = permissions(files.authorityKey), mode & 0o077 != 0 {
                warnings.append("\(files.authorityKey) is readable by other users (mode \(String(mode, radix: 8))): run chmod 600 on it; whoever holds this key can impersonate any web site to phones that trust the CA")
            }
            return (authority, false, warnings)
        case (false, false):
            try createDirectory(files.directory)
            let host = ServerNames.hostName() ?? "this machine"
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withFullDate]
            let authority = try create(commonName: "classctl local CA (\(host), \(formatter.string(from: now)))", now: now)
            try SecureFile.write(try authority.key.pem(), to: files.authorityKey, mode: 0o600)
            try SecureFile.write(authority.certificate.pem, to: files.authorityCertificate, mode: 0o644)
            return (authority, true, [])
        case (true, false):
            throw CertificateError("\(files.authorityCertificate) exists but \(files.authorityKey) does not: restore the key, or delete ca.pem to create a new CA (phones must then trust the new ca.pem)")
        case (false, true):
            throw CertificateError("\(files.authorityKey) exists but \(files.authorityCertificate) does not: restore the certificate, or delete ca-key.pem to create a new CA")
        }
    }

    /// Issues a server certificate and writes server.pem (leaf + CA) and server-key.pem (0600).
    @discardableResult
    public func writeServerCertificate(_ files: Files, names: ServerNames, validityDays: Int = maximumServerValidityDays,
                                       now: Date = Date()) throws(CertificateError) -> TLSCertificate {
        let issued = try issueServerCertificate(for: names, validityDays: validityDays, now: now)
        // Key first: a server.pem without its key would be the worse half-state.
        try SecureFile.write(try issued.key.pem(), to: files.serverKey, mode: 0o600)
        try SecureFile.write(issued.certificate.pem + certificate.pem, to: files.serverCertificate, mode: 0o644)
        return issued.certificate
    }

    private static func load(_ files: Files, now: Date) throws(CertificateError) -> LocalCertificateAuthority {
        let certificatePEM: [UInt8]
        let keyPEM: [UInt8]
        do {
            certificatePEM = try PEMFile.read(files.authorityCertificate, role: .certificate)
            keyPEM = try PEMFile.read(files.authorityKey, role: .key)
        } catch {
            throw CertificateError(error.description)
        }
        let certificate: TLSCertificate
        let key: TLSPrivateKey
        do {
            certificate = try TLSCertificate(pem: certificatePEM)
        } catch {
            throw CertificateError("\(files.authorityCertificate): \(error.description)")
        }
        do {
            key = try TLSPrivateKey(pem: keyPEM)
        } catch {
            throw CertificateError("\(files.authorityKey): \(error.description)")
        }
        guard certificate.matches(key) else {
            throw CertificateError("\(files.authorityKey) does not belong to \(files.authorityCertificate)")
        }
        if certificate.info.notAfter < now {
            throw CertificateError("the local CA in \(files.directory) has expired: delete ca.pem and ca-key.pem to create a new one (phones must then trust the new ca.pem)")
        }
        return try LocalCertificateAuthority(certificate: certificate, key: key)
    }

    private static func createDirectory(_ path: String) throws(CertificateError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw CertificateError("cannot create the directory \(path): \(error.localizedDescription)")
        }
    }

    private static func permissions(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_mode & 0o777)
    }
}

/// Writes a file atomically with an exact mode: a new temporary file created with that mode (so
/// a key is never readable by others, not even briefly), flushed, then renamed over the target.
enum SecureFile {
    static func write(_ text: String, to path: String, mode: mode_t) throws(CertificateError) {
        let temporary = path + ".tmp-\(getpid())"
        // O_EXCL: never write a key into a file someone else created (a leftover is removed first).
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw CertificateError("cannot write \(path): \(String(cString: strerror(errno)))") }
        var failure: String?
        if fchmod(fd, mode) != 0 { failure = String(cString: strerror(errno)) }  // the umask may have narrowed it
        let bytes = Array(text.utf8)
        var offset = 0
        while failure == nil && offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                failure = String(cString: strerror(errno))
            } else {
                offset += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil && rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw CertificateError("cannot write \(path): \(failure)")
        }
    }
}
