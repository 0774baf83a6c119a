// Test helpers: an OpenSSL client over memory BIOs (an independent peer for our server
// session), a pump that runs handshakes, generated PKIs and temporary directories.
import COpenSSL
import Foundation
import TestSupport
@testable import TLS

/// A TLS client built directly on OpenSSL, pumped by the test like our server session.
final class OpenSSLClient {
    private let ctx: OpaquePointer
    let ssl: OpaquePointer
    private let input: OpaquePointer
    private let output: OpaquePointer
    /// OpenSSL's reason for the last client-side failure.
    private(set) var failure: String?
    private(set) var peerClosed = false

    struct Options {
        var trusting: TLSCertificate?
        var host = "localhost"
        var minVersion = TLS1_2_VERSION
        var maxVersion = TLS1_3_VERSION
        var alpn: [String] = ["http/1.1"]
        var cipherList: String?
        var session: OpaquePointer?
    }

    init(_ options: Options = Options()) {
        ctx = SSL_CTX_new(TLS_client_method())!
        if let list = options.cipherList { _ = SSL_CTX_set_cipher_list(ctx, list) }
        _ = copenssl_SSL_CTX_set_min_proto_version(ctx, options.minVersion)
        _ = copenssl_SSL_CTX_set_max_proto_version(ctx, options.maxVersion)
        _ = copenssl_SSL_CTX_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_CLIENT))
        if let ca = options.trusting {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
            _ = X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca.x509)
        }
        ssl = SSL_new(ctx)!
        input = BIO_new(BIO_s_mem())!
        output = BIO_new(BIO_s_mem())!
        SSL_set_bio(ssl, input, output)
        SSL_set_connect_state(ssl)
        _ = copenssl_SSL_set_tlsext_host_name(ssl, options.host)
        if options.trusting != nil { _ = SSL_set1_host(ssl, options.host) }
        if !options.alpn.isEmpty {
            let wire = options.alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
            _ = SSL_set_alpn_protos(ssl, wire, UInt32(wire.count))
        }
        if let session = options.session { _ = SSL_set_session(ssl, session) }
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(ctx)
    }

    /// Advances the handshake; true once it is complete on the client side.
    @discardableResult
    func step() -> Bool {
        ERR_clear_error()
        let status = SSL_do_handshake(ssl)
        if status == 1 { return true }
        let error = SSL_get_error(ssl, status)
        if error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE {
            failure = OpenSSLError.drainReason() ?? "error \(error)"
        }
        return false
    }

    /// Ciphertext the client wants to send.
    func take() -> [UInt8] { MemoryBIO.drain(output) }

    /// Ciphertext from the server.
    func give(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        _ = bytes.withUnsafeBytes { BIO_write(input, $0.baseAddress, Int32($0.count)) }
    }

    func send(_ plaintext: [UInt8]) {
        var written = 0
        _ = plaintext.withUnsafeBytes { SSL_write_ex(ssl, $0.baseAddress, $0.count, &written) }
    }

    /// Everything decryptable from what the server sent so far.
    func read() -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            var count = 0
            ERR_clear_error()
            let status = buffer.withUnsafeMutableBytes { SSL_read_ex(ssl, $0.baseAddress, $0.count, &count) }
            if status == 1 {
                result += buffer[0..<count]
                continue
            }
            let error = SSL_get_error(ssl, status)
            if error == SSL_ERROR_ZERO_RETURN { peerClosed = true }
            else if error != SSL_ERROR_WANT_READ { failure = OpenSSLError.drainReason() ?? "error \(error)" }
            return result
        }
    }

    func shutdown() { _ = SSL_shutdown(ssl) }

    var version: String { String(cString: SSL_get_version(ssl)) }
    var verifyResult: Int { SSL_get_verify_result(ssl) }
    var isResumed: Bool { SSL_session_reused(ssl) == 1 }

    /// The session to resume later (the caller frees it with SSL_SESSION_free).
    func session() -> OpaquePointer? { SSL_get1_session(ssl) }

    /// The server certificate's subjectAltNames as the client saw them.
    var peerCertificateInfo: CertificateInfo? {
        guard let peer = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(peer) }
        return CertificateInfo(x509: peer)
    }
}

/// Pumps records between `client` and `server` until both finished the handshake, one side
/// failed, or nothing moves. Returns every result of the server.
@discardableResult
func handshake(_ client: OpenSSLClient, _ server: TLSSession) -> [TLSReceiveResult] {
    var results: [TLSReceiveResult] = []
    for _ in 0..<10 {
        let clientDone = client.step()
        let toServer = client.take()
        if !toServer.isEmpty {
            let result = toServer.withUnsafeBytes { server.receive($0) }
            results.append(result)
            client.give(result.ciphertextToSend)
            if result.error != nil {
                client.step()
                break
            }
        }
        if clientDone && server.isHandshakeComplete { break }
        if client.failure != nil { break }
    }
    return results
}

extension TLSSession {
    func receive(_ bytes: [UInt8]) -> TLSReceiveResult {
        bytes.withUnsafeBytes { receive($0) }
    }
}

/// A CA and a server certificate signed by it.
struct TestPKI {
    let authority: LocalCertificateAuthority
    let certificate: TLSCertificate
    let key: TLSPrivateKey

    init(_ algorithm: KeyAlgorithm = .ecdsaP256, names: [String] = ["localhost", "127.0.0.1"], now: Date = Date()) throws {
        authority = try LocalCertificateAuthority.create(commonName: "classctl test CA", algorithm: algorithm, now: now)
        (certificate, key) = try authority.issueServerCertificate(for: ServerNames(names), algorithm: algorithm, now: now)
    }

    var chainPEM: [UInt8] { Array((certificate.pem + authority.certificate.pem).utf8) }
    func keyPEM(passphrase: String? = nil) throws -> [UInt8] { Array(try key.pem(passphrase: passphrase).utf8) }

    func context() throws -> TLSServerContext {
        try TLSServerContext.make(certificatePEM: chainPEM, keyPEM: keyPEM())
    }

    func write(to directory: TemporaryDirectory, prefix: String = "server", passphrase: String? = nil) throws -> (certificate: String, key: String) {
        let certificatePath = directory.path + "/\(prefix).pem"
        let keyPath = directory.path + "/\(prefix)-key.pem"
        try Data(chainPEM).write(to: URL(fileURLWithPath: certificatePath))
        try Data(keyPEM(passphrase: passphrase)).write(to: URL(fileURLWithPath: keyPath))
        return (certificatePath, keyPath)
    }
}

/// A fresh directory, removed with everything in it when released.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/classctl-tls-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String, _ contents: String) throws -> String {
        let file = path + "/" + name
        try contents.write(toFile: file, atomically: false, encoding: .utf8)
        return file
    }
}
