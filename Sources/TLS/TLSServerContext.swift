// The server's TLS configuration: one OpenSSL SSL_CTX built from a certificate chain and key,
// swapped atomically on reload. Policy (see docs/tls.md): TLS 1.2 and 1.3 only, Mozilla
// "intermediate" ciphers, ALPN http/1.1, resumption by tickets and a small session cache,
// record buffers released while idle, no compression, no renegotiation.
import COpenSSL
import Foundation

public final class TLSServerContext: @unchecked Sendable {
    // Shared by every event loop: `lock` guards `current` and `source`; a `BuiltContext` is
    // immutable once built and OpenSSL synchronises SSL_CTX use (SSL_new, the session cache).
    private let lock = NSLock()
    private var current: BuiltContext
    private var source: Source

    /// Where the pair came from, for `reload()`.
    private enum Source {
        case files(certificate: String, key: String, passphrase: String?)
        case memory
    }

    private init(_ context: BuiltContext, source: Source) {
        self.current = context
        self.source = source
    }

    /// Loads a PEM certificate chain (server certificate first, then intermediates) and its
    /// private key. Errors name the file and the problem (see `TLSConfigurationError`).
    public static func load(certificateFile: String, keyFile: String, passphrase: String? = nil) throws(TLSConfigurationError) -> TLSServerContext {
        let built = try BuiltContext.fromFiles(certificateFile: certificateFile, keyFile: keyFile, passphrase: passphrase, previous: nil)
        return TLSServerContext(built, source: .files(certificate: certificateFile, key: keyFile, passphrase: passphrase))
    }

    /// The same from PEM bytes already in memory (tests, embedding). Messages say "<memory>".
    public static func make(certificatePEM: [UInt8], keyPEM: [UInt8], passphrase: String? = nil) throws(TLSConfigurationError) -> TLSServerContext {
        let built = try BuiltContext.build(certificatePEM: certificatePEM, certificatePath: "<memory>",
                                           keyPEM: keyPEM, keyPath: "<memory>", passphrase: passphrase, previous: nil)
        return TLSServerContext(built, source: .memory)
    }

    /// Reloads the files given to `load` (after a renewal, on SIGHUP). On error the current
    /// pair stays in use.
    public func reload() throws(TLSConfigurationError) {
        let source = lock.withLock { self.source }
        guard case .files(let certificate, let key, let passphrase) = source else {
            throw TLSConfigurationError(.notReloadable, "this TLS context was built from memory; there are no files to reload")
        }
        try reload(certificateFile: certificate, keyFile: key, passphrase: passphrase)
    }

    /// Builds a new SSL_CTX from these files and swaps it in: new connections use the new pair,
    /// existing sessions keep the context they were created with (SSL objects hold a reference).
    /// Session-ticket keys are carried over so phones can still resume their sessions.
    public func reload(certificateFile: String, keyFile: String, passphrase: String? = nil) throws(TLSConfigurationError) {
        let previous = lock.withLock { current }
        let built = try BuiltContext.fromFiles(certificateFile: certificateFile, keyFile: keyFile, passphrase: passphrase, previous: previous)
        lock.withLock {
            current = built
            source = .files(certificate: certificateFile, key: keyFile, passphrase: passphrase)
        }
    }

    /// A new server-side TLS state machine for one accepted connection.
    public func makeSession() -> TLSSession {
        let context = lock.withLock { current }
        return TLSSession(context: context.ctx)
    }

    /// The server certificate currently in use.
    public var certificateInfo: CertificateInfo {
        lock.withLock { current.info }
    }

    /// Startup warnings for the names phones will use: expired / not yet valid / expiring
    /// soon, or a host name or IP the certificate does not cover.
    public func warnings(forHostNames hostNames: [String], now: Date) -> [String] {
        certificateInfo.warnings(forHostNames: hostNames, now: now)
    }
}

/// One configured SSL_CTX and what its certificate says; freed when the last user lets go
/// (sessions keep the SSL_CTX itself alive through OpenSSL's reference count).
private final class BuiltContext: @unchecked Sendable {
    // Immutable after init; SSL_CTX is safe to share between threads once configured.
    let ctx: OpaquePointer
    let info: CertificateInfo

    private init(ctx: OpaquePointer, info: CertificateInfo) {
        self.ctx = ctx
        self.info = info
    }

    deinit { SSL_CTX_free(ctx) }

    /// TLS 1.2 suites of Mozilla's "intermediate" profile minus the DHE ones: forward secret,
    /// AEAD only. No CBC, no RSA key exchange, no SHA-1 MACs. Client order is honoured: every
    /// suite here is strong, and phones without AES hardware rightly pick ChaCha20.
    static let tls12Ciphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")
    /// OpenSSL's TLS 1.3 defaults, written out so a system openssl.cnf cannot change them.
    static let tls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    static let groups = "X25519:P-256:P-384"
    /// Enough for a class's phones that do not support tickets; TLS 1.3 sessions are not stored.
    static let sessionCacheSize = 1024
    static let sessionIDContext = Array("classctl".utf8)

    static func fromFiles(certificateFile: String, keyFile: String, passphrase: String?, previous: BuiltContext?) throws(TLSConfigurationError) -> BuiltContext {
        let certificatePEM = try PEMFile.read(certificateFile, role: .certificate)
        let keyPEM = try PEMFile.read(keyFile, role: .key)
        return try build(certificatePEM: certificatePEM, certificatePath: certificateFile,
                         keyPEM: keyPEM, keyPath: keyFile, passphrase: passphrase, previous: previous)
    }

    static func build(certificatePEM: [UInt8], certificatePath: String, keyPEM: [UInt8], keyPath: String,
                      passphrase: String?, previous: BuiltContext?) throws(TLSConfigurationError) -> BuiltContext {
        ERR_clear_error()
        let chain = try decodeCertificates(certificatePEM, path: certificatePath)
        defer { chain.forEach { X509_free($0) } }
        let key = try decodePrivateKey(keyPEM, path: keyPath, passphrase: passphrase)
        defer { EVP_PKEY_free(key) }

        guard X509_check_private_key(chain[0], key) == 1 else {
            ERR_clear_error()
            let match = chain.indices.dropFirst().first { X509_check_private_key(chain[$0], key) == 1 }
            ERR_clear_error()
            throw .keyMismatch(keyPath: keyPath, certificatePath: certificatePath, matchesCertificateNumber: match.map { $0 + 1 })
        }

        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw .openSSL("cannot create an SSL_CTX") }
        // From here on `built` owns ctx and frees it if configuration fails.
        let built = BuiltContext(ctx: ctx, info: CertificateInfo(x509: chain[0]))
        try built.configurePolicy()
        guard SSL_CTX_use_certificate(ctx, chain[0]) == 1 else { throw .openSSL("the certificate was refused") }
        for extra in chain.dropFirst() {
            guard copenssl_SSL_CTX_add1_chain_cert(ctx, extra) == 1 else { throw .openSSL("a chain certificate was refused") }
        }
        guard SSL_CTX_use_PrivateKey(ctx, key) == 1 else {
            throw .openSSL("the private key was refused (too weak a key is refused by OpenSSL's security level)")
        }
        if let previous { built.adoptTicketKeys(from: previous) }
        return built
    }

    private func configurePolicy() throws(TLSConfigurationError) {
        guard copenssl_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1,
              copenssl_SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 else { throw .openSSL("cannot limit protocol versions") }
        guard SSL_CTX_set_cipher_list(ctx, Self.tls12Ciphers) == 1 else { throw .openSSL("cannot set the TLS 1.2 cipher list") }
        guard SSL_CTX_set_ciphersuites(ctx, Self.tls13Suites) == 1 else { throw .openSSL("cannot set the TLS 1.3 cipher suites") }
        guard copenssl_SSL_CTX_set1_groups_list(ctx, Self.groups) == 1 else { throw .openSSL("cannot set the key-exchange groups") }
        _ = copenssl_SSL_CTX_set_options(ctx, Int(truncatingIfNeeded: copenssl_SSL_OP_NO_COMPRESSION() | copenssl_SSL_OP_NO_RENEGOTIATION()))
        // Idle connections then hold no 16 KiB record buffers (the bulk of a session's memory).
        // No auto-chain: the file's chain is served as given, instead of OpenSSL searching an
        // (empty) certificate store for issuers on every handshake.
        _ = copenssl_SSL_CTX_set_mode(ctx, Int(SSL_MODE_RELEASE_BUFFERS) | Int(SSL_MODE_NO_AUTO_CHAIN))
        _ = copenssl_SSL_CTX_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_SERVER))
        _ = copenssl_SSL_CTX_sess_set_cache_size(ctx, Self.sessionCacheSize)
        let idOK = Self.sessionIDContext.withUnsafeBufferPointer {
            SSL_CTX_set_session_id_context(ctx, $0.baseAddress, UInt32($0.count)) == 1
        }
        guard idOK else { throw .openSSL("cannot set the session id context") }
        SSL_CTX_set_alpn_select_cb(ctx, { _, out, outLength, offered, offeredLength, _ in
            selectHTTP11(out: out, outLength: outLength, offered: offered, offeredLength: offeredLength)
        }, nil)
    }

    /// Reusing the ticket keys across a reload keeps resumption working for connected phones.
    private func adoptTicketKeys(from previous: BuiltContext) {
        var keys = [UInt8](repeating: 0, count: 80)
        if copenssl_SSL_CTX_get_tlsext_ticket_keys(previous.ctx, &keys, keys.count) == 1 {
            _ = copenssl_SSL_CTX_set_tlsext_ticket_keys(ctx, &keys, keys.count)
        }
        keys.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
        ERR_clear_error()
    }

    // MARK: Decoding

    private static func decodeCertificates(_ pem: [UInt8], path: String) throws(TLSConfigurationError) -> [OpaquePointer] {
        let blocks = PEMFile.blocks(in: pem)
        if blocks.isEmpty { throw .notPEM(.certificate, path) }
        let certificateBlocks = blocks.filter { $0.label == "CERTIFICATE" || $0.label == "TRUSTED CERTIFICATE" || $0.label == "X509 CERTIFICATE" }
        if certificateBlocks.isEmpty { throw .noCertificate(path, found: blocks.map(\.label)) }
        var chain: [OpaquePointer] = []
        for (index, block) in certificateBlocks.enumerated() {
            let decoded = MemoryBIO.withReadOnly(block.bytes) { bio -> OpaquePointer? in
                block.label == "TRUSTED CERTIFICATE" ? PEM_read_bio_X509_AUX(bio, nil, nil, nil) : PEM_read_bio_X509(bio, nil, nil, nil)
            }
            guard let certificate = decoded ?? nil else {
                chain.forEach { X509_free($0) }
                throw .invalidCertificate(path, number: index + 1, reason: OpenSSLError.drainReason() ?? "malformed")
            }
            chain.append(certificate)
        }
        return chain
    }

    private static func decodePrivateKey(_ pem: [UInt8], path: String, passphrase: String?) throws(TLSConfigurationError) -> OpaquePointer {
        let blocks = PEMFile.blocks(in: pem)
        if blocks.isEmpty { throw .notPEM(.key, path) }
        guard let block = blocks.first(where: { $0.label.hasSuffix("PRIVATE KEY") }) else {
            throw .noPrivateKey(path, found: blocks.map(\.label))
        }
        let request = PassphraseRequest(passphrase)
        let decoded = MemoryBIO.withReadOnly(block.bytes) { bio -> OpaquePointer? in
            withExtendedLifetime(request) {
                PEM_read_bio_PrivateKey(bio, nil, { buffer, size, _, userData in
                    guard let buffer, let userData else { return -1 }
                    return Unmanaged<PassphraseRequest>.fromOpaque(userData).takeUnretainedValue().copy(into: buffer, size: size)
                }, Unmanaged.passUnretained(request).toOpaque())
            }
        }
        if let key = decoded ?? nil {
            ERR_clear_error()
            return key
        }
        let reason = OpenSSLError.drainReason() ?? "malformed"
        if request.wasAsked {
            if passphrase == nil { throw .passphraseRequired(path) }
            throw .wrongPassphrase(path)
        }
        throw .invalidKey(path, reason: reason)
    }
}

/// The passphrase handed to OpenSSL's PEM callback, which also records whether OpenSSL asked:
/// that is how "encrypted, no passphrase" and "wrong passphrase" are told apart from a corrupt
/// key. Without a callback OpenSSL would prompt on the terminal.
private final class PassphraseRequest {
    let passphrase: [UInt8]?
    private(set) var wasAsked = false

    init(_ passphrase: String?) { self.passphrase = passphrase.map { Array($0.utf8) } }

    func copy(into buffer: UnsafeMutablePointer<CChar>, size: Int32) -> Int32 {
        wasAsked = true
        guard let passphrase, !passphrase.isEmpty, passphrase.count <= Int(size) else { return -1 }
        UnsafeMutableRawBufferPointer(start: buffer, count: passphrase.count).copyBytes(from: passphrase)
        return Int32(passphrase.count)
    }
}

/// ALPN: pick "http/1.1" when the client offers it. A client offering only other protocols
/// (say h2 alone) still gets a connection, without ALPN, rather than a handshake failure.
private func selectHTTP11(out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, outLength: UnsafeMutablePointer<UInt8>?,
                          offered: UnsafePointer<UInt8>?, offeredLength: UInt32) -> Int32 {
    guard let out, let outLength, let offered else { return SSL_TLSEXT_ERR_NOACK }
    let wanted = Array("http/1.1".utf8)
    let list = UnsafeBufferPointer(start: offered, count: Int(offeredLength))
    var i = 0
    // The list is length-prefixed protocol names; the lengths come from the client.
    while i < list.count {
        let length = Int(list[i])
        let start = i + 1
        guard length > 0, start + length <= list.count else { break }
        if length == wanted.count && list[start..<(start + length)].elementsEqual(wanted) {
            out.pointee = offered + start
            outLength.pointee = UInt8(length)
            return SSL_TLSEXT_ERR_OK
        }
        i = start + length
    }
    return SSL_TLSEXT_ERR_NOACK
}
