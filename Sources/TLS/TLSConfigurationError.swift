// Why a certificate/key pair could not be loaded, worded for the person who typed the paths.

/// A certificate or key problem found while building a `TLSServerContext`. `description` is
/// meant to be printed as is: it names the file and says what to do.
public struct TLSConfigurationError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable, Equatable {
        case fileMissing
        /// Permissions, a directory instead of a file, an I/O error.
        case fileUnreadable
        case notPEM
        case noCertificate
        case noPrivateKey
        case keyMismatch
        case passphraseRequired
        case wrongPassphrase
        /// A PEM block that OpenSSL cannot decode (corrupt base64, unsupported algorithm).
        case invalidCertificate
        case invalidKey
        /// OpenSSL refused a setting (out of memory, a policy the library does not support).
        case openSSL
        /// `reload()` on a context that was built from memory, not files.
        case notReloadable
    }

    /// Which of the two files a message is about.
    public enum FileRole: String, Sendable {
        case certificate = "certificate file"
        case key = "key file"
    }

    public let kind: Kind
    public let description: String

    init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    static func fileMissing(_ role: FileRole, _ path: String) -> Self {
        Self(.fileMissing, "\(role.rawValue) '\(path)' does not exist")
    }

    static func fileUnreadable(_ role: FileRole, _ path: String, _ reason: String) -> Self {
        Self(.fileUnreadable, "\(role.rawValue) '\(path)' cannot be read: \(reason)")
    }

    static func notPEM(_ role: FileRole, _ path: String, detail: String? = nil) -> Self {
        let expected = role == .certificate
            ? "'-----BEGIN CERTIFICATE-----' blocks; a DER (binary) certificate converts with `openssl x509 -inform der -in FILE -out FILE.pem`"
            : "a '-----BEGIN PRIVATE KEY-----' block; a DER (binary) key converts with `openssl pkey -inform der -in FILE -out FILE.pem`"
        let why = detail.map { " (\($0))" } ?? ""
        return Self(.notPEM, "\(role.rawValue) '\(path)' is not in PEM format\(why): expected \(expected)")
    }

    static func noCertificate(_ path: String, found labels: [String]) -> Self {
        let swapped = labels.contains { $0.hasSuffix("PRIVATE KEY") } ? "; were the certificate and key files swapped?" : ""
        return Self(.noCertificate, "certificate file '\(path)' contains no certificate (it holds: \(labels.joined(separator: ", ")))\(swapped)")
    }

    static func noPrivateKey(_ path: String, found labels: [String]) -> Self {
        let swapped = labels.contains("CERTIFICATE") ? "; were the certificate and key files swapped?" : ""
        return Self(.noPrivateKey, "key file '\(path)' contains no private key (it holds: \(labels.joined(separator: ", ")))\(swapped)")
    }

    static func keyMismatch(keyPath: String, certificatePath: String, matchesCertificateNumber: Int?) -> Self {
        if let n = matchesCertificateNumber {
            return Self(.keyMismatch, "the private key in '\(keyPath)' belongs to certificate #\(n) in '\(certificatePath)', not the first one: the server's own certificate must come first, followed by its intermediates")
        }
        return Self(.keyMismatch, "the private key in '\(keyPath)' does not match the certificate in '\(certificatePath)'; use the key that was generated with this certificate")
    }

    static func passphraseRequired(_ path: String) -> Self {
        Self(.passphraseRequired, "key file '\(path)' is encrypted and no passphrase was given")
    }

    static func wrongPassphrase(_ path: String) -> Self {
        Self(.wrongPassphrase, "wrong passphrase for the encrypted key file '\(path)'")
    }

    static func invalidCertificate(_ path: String, number: Int, reason: String) -> Self {
        Self(.invalidCertificate, "certificate file '\(path)': certificate #\(number) cannot be decoded (\(reason))")
    }

    static func invalidKey(_ path: String, reason: String) -> Self {
        Self(.invalidKey, "key file '\(path)': the private key cannot be decoded (\(reason))")
    }

    static func openSSL(_ what: String) -> Self {
        Self(.openSSL, "TLS setup failed: \(what) (\(OpenSSLError.drainReason() ?? "no detail from OpenSSL"))")
    }
}
