// One connection's TLS, driven by bytes: ciphertext from the socket goes in, plaintext and
// ciphertext to send come out. No sockets here; the connection does the I/O on its queue.
import COpenSSL

/// What one `TLSSession.receive` produced.
public struct TLSReceiveResult: Sendable {
    /// Application data decrypted from this input (may be empty).
    public var plaintext: [UInt8] = []
    /// Records to send to the peer now: handshake messages, session tickets, alerts.
    public var ciphertextToSend: [UInt8] = []
    /// The handshake completed during this call.
    public var handshakeCompleted = false
    /// The peer sent close_notify: reply with `close()` and close the socket once it is written.
    public var peerClosed = false
    /// A fatal error: send `ciphertextToSend` (usually an alert) if you can, then close.
    public var error: TLSError?

    public init() {}
}

/// Why a TLS connection failed.
public struct TLSError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Sendable, Equatable {
        /// Plain-text HTTP sent to the TLS port ("http request"): the client typed http://.
        case plainHTTP
        /// SSL 3, TLS 1.0 or 1.1, or bytes that are not TLS at all ("wrong version number").
        case unsupportedVersion
        /// Any other protocol or handshake failure (no shared cipher, bad record MAC, ...).
        case protocolError
        /// Memory allocation failed inside OpenSSL.
        case resources
    }

    public let kind: Kind
    /// OpenSSL's reason, e.g. "wrong version number", "unsupported protocol", "http request".
    public let reason: String

    public var description: String { "TLS error: \(reason)" }

    init(reason: String) {
        self.reason = reason
        switch reason {
        case "http request", "https proxy request": kind = .plainHTTP
        case "wrong version number", "unsupported protocol", "unknown protocol", "version too low": kind = .unsupportedVersion
        case "malloc failure": kind = .resources
        default: kind = .protocolError
        }
    }

    init(kind: Kind, reason: String) {
        self.kind = kind
        self.reason = reason
    }
}

/// One connection's TLS state machine. OpenSSL reads and writes records through an in-memory
/// BIO (`RecordTransport`) only during calls, so this holds no buffers while idle. Not
/// thread-safe: owned by the connection's queue, like the codecs.
public final class TLSSession {
    private let ssl: OpaquePointer?
    private let transport = RecordTransport()

    public private(set) var isHandshakeComplete = false
    /// Set by the first fatal error; from then on the session produces nothing.
    public private(set) var failure: TLSError?
    private var peerSentClose = false
    private var sentClose = false
    /// Application data given to `encrypt` before the handshake finished (normally none).
    private var pendingPlaintext: [UInt8] = []

    init(context: OpaquePointer) {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else {
            _ = OpenSSLError.drainReason()
            self.ssl = nil
            self.failure = TLSError(kind: .resources, reason: "cannot allocate a TLS session")
            return
        }
        guard let bio = transport.makeBIO() else {
            SSL_free(ssl)
            _ = OpenSSLError.drainReason()
            self.ssl = nil
            self.failure = TLSError(kind: .resources, reason: "cannot allocate a TLS session")
            return
        }
        SSL_set_bio(ssl, bio, bio)  // one BIO both ways; the SSL object owns it
        SSL_set_accept_state(ssl)
        self.ssl = ssl
    }

    deinit {
        if let ssl { SSL_free(ssl) }  // frees the BIO too, before `transport` goes
    }

    /// Feed ciphertext received from the socket. Returns the plaintext decrypted so far,
    /// ciphertext to send to the peer, and whether the handshake just completed, the peer
    /// closed, or a fatal error occurred.
    public func receive(_ ciphertext: UnsafeRawBufferPointer) -> TLSReceiveResult {
        var result = TLSReceiveResult()
        guard let ssl, failure == nil else {
            result.error = failure
            return result
        }
        // After the peer's close_notify nothing it sends can be application data.
        if peerSentClose || ciphertext.isEmpty { return result }
        ERR_clear_error()
        transport.reading(ciphertext) {
            if !isHandshakeComplete {
                let status = SSL_do_handshake(ssl)
                if status == 1 {
                    isHandshakeComplete = true
                    result.handshakeCompleted = true
                    flushPendingPlaintext(ssl, into: &result)
                } else if !isRetry(SSL_get_error(ssl, status)) {
                    fail(currentError(), into: &result)
                }
            }
            if isHandshakeComplete && failure == nil {
                readPlaintext(ssl, into: &result)
            }
        }
        if failure != nil || peerSentClose { transport.discardInput() }
        result.ciphertextToSend += transport.takeOutput()
        return result
    }

    /// Encrypts application data and returns the records to send. Before the handshake has
    /// completed the data is kept and sent with the handshake's completion; after a close or
    /// a failure it is dropped (nothing can be sent any more).
    public func encrypt(_ plaintext: UnsafeRawBufferPointer) -> [UInt8] {
        guard let ssl, failure == nil, !sentClose, let base = plaintext.baseAddress, !plaintext.isEmpty else { return [] }
        guard isHandshakeComplete else {
            pendingPlaintext.append(contentsOf: plaintext)
            return []
        }
        ERR_clear_error()
        var written = 0
        // The transport accepts every byte, so a write completes in full or fails.
        if SSL_write_ex(ssl, base, plaintext.count, &written) != 1 {
            var ignored = TLSReceiveResult()
            fail(currentError(), into: &ignored)
        }
        return transport.takeOutput()
    }

    public func encrypt(_ plaintext: [UInt8]) -> [UInt8] {
        plaintext.withUnsafeBytes { encrypt($0) }
    }

    /// Our close_notify, to send before closing the socket (empty if the handshake never
    /// completed, the session failed or close was already sent).
    public func close() -> [UInt8] {
        guard let ssl, isHandshakeComplete, failure == nil, !sentClose else { return [] }
        ERR_clear_error()
        sentClose = true
        // 0 means "sent, the peer's reply not seen yet", which is all a server waits for.
        if SSL_shutdown(ssl) < 0 { _ = OpenSSLError.drainReason() }
        return transport.takeOutput()
    }

    /// "TLSv1.3" or "TLSv1.2", once the handshake has completed.
    public var negotiatedProtocol: String? {
        guard let ssl, isHandshakeComplete, let version = SSL_get_version(ssl) else { return nil }
        return String(cString: version)
    }

    /// The ALPN protocol agreed with the client ("http/1.1"), if any.
    public var alpn: String? {
        guard let ssl, isHandshakeComplete else { return nil }
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The cipher suite in use, e.g. "TLS_AES_128_GCM_SHA256" (for logs).
    public var cipher: String? {
        guard let ssl, isHandshakeComplete, let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) else { return nil }
        return String(cString: name)
    }

    /// Whether the handshake resumed an earlier session (ticket or session cache).
    public var isResumed: Bool {
        guard let ssl, isHandshakeComplete else { return false }
        return SSL_session_reused(ssl) == 1
    }

    /// Received bytes kept between calls (for tests: normally zero).
    var bufferedByteCount: Int { transport.unreadCount }

    // MARK: Steps

    private func readPlaintext(_ ssl: OpaquePointer, into result: inout TLSReceiveResult) {
        withUnsafeTemporaryAllocation(byteCount: 16 * 1024, alignment: 1) { buffer in
            while true {
                var count = 0
                let status = SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count)
                if status == 1 {
                    result.plaintext.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                    continue
                }
                let error = SSL_get_error(ssl, status)
                if isRetry(error) { return }
                if error == SSL_ERROR_ZERO_RETURN {
                    peerSentClose = true
                    result.peerClosed = true
                    _ = OpenSSLError.drainReason()
                    return
                }
                fail(currentError(), into: &result)
                return
            }
        }
    }

    private func flushPendingPlaintext(_ ssl: OpaquePointer, into result: inout TLSReceiveResult) {
        guard !pendingPlaintext.isEmpty else { return }
        let pending = pendingPlaintext
        pendingPlaintext = []
        var written = 0
        let status = pending.withUnsafeBytes { SSL_write_ex(ssl, $0.baseAddress, $0.count, &written) }
        if status != 1 { fail(currentError(), into: &result) }
    }

    private func isRetry(_ error: Int32) -> Bool {
        error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE
    }

    private func currentError() -> TLSError {
        TLSError(reason: OpenSSLError.drainReason() ?? "connection failed")
    }

    /// Records the failure; what OpenSSL queued (typically a fatal alert) still goes out.
    private func fail(_ error: TLSError, into result: inout TLSReceiveResult) {
        failure = error
        pendingPlaintext = []
        result.error = error
        result.plaintext = []
    }
}
