// Keys and X.509 certificates built with OpenSSL's APIs (EVP_PKEY, X509, X509V3 extensions):
// what `classctl cert` and the tests use. No shelling out to the openssl tool.
import COpenSSL
import Foundation

public struct CertificateError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }

    static func openSSL(_ what: String) -> Self {
        Self("\(what) (\(OpenSSLError.drainReason() ?? "no detail from OpenSSL"))")
    }
}

public enum KeyAlgorithm: Sendable, Equatable {
    /// ECDSA on P-256: small, fast, accepted by every browser.
    case ecdsaP256
    /// RSA with 2048 to 8192 bits, for old clients or tests.
    case rsa(bits: Int)
}

/// A private key (OpenSSL `EVP_PKEY`).
public final class TLSPrivateKey: @unchecked Sendable {
    // Immutable after init: OpenSSL only reads the key when signing or exporting.
    let pkey: OpaquePointer

    init(taking pkey: OpaquePointer) { self.pkey = pkey }
    deinit { EVP_PKEY_free(pkey) }

    public static func generate(_ algorithm: KeyAlgorithm) throws(CertificateError) -> TLSPrivateKey {
        ERR_clear_error()
        let key: OpaquePointer?
        switch algorithm {
        case .ecdsaP256:
            key = copenssl_EVP_EC_gen("P-256")
        case .rsa(let bits):
            guard (2048...8192).contains(bits) else { throw CertificateError("RSA keys must have 2048 to 8192 bits, not \(bits)") }
            key = copenssl_EVP_RSA_gen(UInt32(bits))
        }
        guard let key else { throw .openSSL("cannot generate a key") }
        return TLSPrivateKey(taking: key)
    }

    /// Reads an unencrypted PEM private key.
    public convenience init(pem: [UInt8]) throws(CertificateError) {
        ERR_clear_error()
        let key = MemoryBIO.withReadOnly(pem) { bio in
            PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in -1 }, nil)  // never prompt
        }
        guard let key = key ?? nil else { throw .openSSL("not an unencrypted PEM private key") }
        self.init(taking: key)
    }

    /// PKCS#8 PEM ("BEGIN PRIVATE KEY"), or AES-256-CBC encrypted with `passphrase`
    /// ("BEGIN ENCRYPTED PRIVATE KEY").
    public func pem(passphrase: String? = nil) throws(CertificateError) -> String {
        if passphrase?.isEmpty == true { throw CertificateError("an empty passphrase cannot protect a key") }
        ERR_clear_error()
        let text = MemoryBIO.text { bio in
            guard let passphrase else {
                return PEM_write_bio_PKCS8PrivateKey(bio, pkey, nil, nil, 0, nil, nil) == 1
            }
            var bytes = passphrase.utf8.map { CChar(bitPattern: $0) }
            defer { bytes.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) } }
            return PEM_write_bio_PKCS8PrivateKey(bio, pkey, EVP_aes_256_cbc(), &bytes, Int32(clamping: bytes.count), nil, nil) == 1
        }
        guard let text else { throw .openSSL("cannot write the private key") }
        return text
    }
}

/// An X.509 certificate (OpenSSL `X509`).
public final class TLSCertificate: @unchecked Sendable {
    // Immutable after init: only read (encoded, inspected, verified) once signed.
    let x509: OpaquePointer

    init(taking x509: OpaquePointer) { self.x509 = x509 }
    deinit { X509_free(x509) }

    /// Reads the first certificate of a PEM text.
    public convenience init(pem: [UInt8]) throws(CertificateError) {
        ERR_clear_error()
        let x509 = MemoryBIO.withReadOnly(pem) { PEM_read_bio_X509($0, nil, nil, nil) }
        guard let x509 = x509 ?? nil else { throw .openSSL("not a PEM certificate") }
        self.init(taking: x509)
    }

    public var pem: String {
        MemoryBIO.text { PEM_write_bio_X509($0, x509) == 1 } ?? ""
    }

    public var info: CertificateInfo { CertificateInfo(x509: x509) }

    /// Whether `key` is this certificate's private key.
    public func matches(_ key: TLSPrivateKey) -> Bool {
        defer { ERR_clear_error() }
        return X509_check_private_key(x509, key.pkey) == 1
    }
}

/// What goes into a certificate besides its names: who signs it and for what.
struct CertificateTemplate {
    enum Role {
        case authority
        case server(dnsNames: [String], ipAddresses: [String])
    }
    var commonName: String
    var organization: String?
    var role: Role
    var notBefore: Date
    var notAfter: Date

    /// Signs a certificate for `subjectKey`; `issuer` nil means self-signed by `signingKey`.
    func sign(subjectKey: TLSPrivateKey, issuer: TLSCertificate?, signingKey: TLSPrivateKey) throws(CertificateError) -> TLSCertificate {
        ERR_clear_error()
        guard let x509 = X509_new() else { throw .openSSL("cannot allocate a certificate") }
        let certificate = TLSCertificate(taking: x509)  // frees x509 on every error path

        guard X509_set_version(x509, 2) == 1,  // X.509 v3 (the value is zero-based)
              Self.setRandomSerial(x509),
              X509_set_pubkey(x509, subjectKey.pkey) == 1,
              let notBeforeField = X509_getm_notBefore(x509), ASN1_TIME_set(notBeforeField, time_t(notBefore.timeIntervalSince1970.rounded(.down))) != nil,
              let notAfterField = X509_getm_notAfter(x509), ASN1_TIME_set(notAfterField, time_t(notAfter.timeIntervalSince1970.rounded(.down))) != nil
        else { throw .openSSL("cannot fill in the certificate") }

        guard let subject = X509_get_subject_name(x509) else { throw .openSSL("cannot fill in the subject") }
        if let organization { try Self.add("O", organization, to: subject) }
        try Self.add("CN", commonName, to: subject)
        let issuerName = issuer.map { X509_get_subject_name($0.x509) } ?? subject
        guard X509_set_issuer_name(x509, issuerName) == 1 else { throw .openSSL("cannot set the issuer") }

        var context = X509V3_CTX()
        copenssl_X509V3_set_ctx_nodb(&context)
        X509V3_set_ctx(&context, issuer?.x509 ?? x509, x509, nil, nil, 0)
        switch role {
        case .authority:
            try Self.addExtension(NID_basic_constraints, "critical,CA:TRUE,pathlen:0", to: x509, context: &context)
            try Self.addExtension(NID_key_usage, "critical,keyCertSign,cRLSign", to: x509, context: &context)
            try Self.addExtension(NID_subject_key_identifier, "hash", to: x509, context: &context)
        case .server(let dnsNames, let ipAddresses):
            try Self.addExtension(NID_basic_constraints, "critical,CA:FALSE", to: x509, context: &context)
            try Self.addExtension(NID_key_usage, "critical,digitalSignature", to: x509, context: &context)
            try Self.addExtension(NID_ext_key_usage, "serverAuth", to: x509, context: &context)
            try Self.addExtension(NID_subject_key_identifier, "hash", to: x509, context: &context)
            try Self.addExtension(NID_authority_key_identifier, "keyid:always", to: x509, context: &context)
            // Names were validated by `ServerNames`: no commas or colons can sneak in here.
            let alternatives = dnsNames.map { "DNS:\($0)" } + ipAddresses.map { "IP:\($0)" }
            try Self.addExtension(NID_subject_alt_name, alternatives.joined(separator: ","), to: x509, context: &context)
        }

        guard X509_sign(x509, signingKey.pkey, EVP_sha256()) > 0 else { throw .openSSL("cannot sign the certificate") }
        return certificate
    }

    /// 159 random bits: unique without bookkeeping, positive as RFC 5280 requires.
    private static func setRandomSerial(_ x509: OpaquePointer) -> Bool {
        var bytes = [UInt8](repeating: 0, count: 20)
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else { return false }
        bytes[0] = (bytes[0] & 0x7F) | 0x01
        guard let number = BN_bin2bn(bytes, Int32(bytes.count), nil) else { return false }
        defer { BN_free(number) }
        return BN_to_ASN1_INTEGER(number, X509_get_serialNumber(x509)) != nil
    }

    private static func add(_ field: String, _ value: String, to name: OpaquePointer) throws(CertificateError) {
        let bytes = Array(value.utf8)
        guard X509_NAME_add_entry_by_txt(name, field, copenssl_MBSTRING_UTF8(), bytes, Int32(clamping: bytes.count), -1, 0) == 1 else {
            throw .openSSL("cannot set \(field)=\(value) in the certificate name")
        }
    }

    private static func addExtension(_ nid: Int32, _ value: String, to x509: OpaquePointer, context: inout X509V3_CTX) throws(CertificateError) {
        guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
            throw .openSSL("cannot build the certificate extension \(value)")
        }
        defer { X509_EXTENSION_free(ext) }
        guard X509_add_ext(x509, ext, -1) == 1 else { throw .openSSL("cannot add the certificate extension \(value)") }
    }
}
