// Client-side TLS for wss:// benchmarks: OpenSSL driven directly on the non-blocking socket
// (SSL_set_fd), so the epoll loop only has to map WANT_READ / WANT_WRITE to its interest set.
import COpenSSL
import Glibc
import TLS  // OpenSSLError.drainReason: the server's reading of OpenSSL's error queue

/// Outcome of one non-blocking TLS operation.
enum TLSIOResult: Equatable {
    /// Handshake finished (n = 0), or n plaintext bytes were read or written.
    case done(Int)
    /// Retry when the socket is readable.
    case wantRead
    /// Retry (with the same bytes, for a write) when the socket is writable.
    case wantWrite
    /// The peer closed the TLS session (close_notify) or the TCP connection.
    case closed
    case error(String)
}

struct TLSClientError: Error, CustomStringConvertible {
    let description: String
}

/// The run's one client SSL_CTX: TLS 1.2+, ALPN http/1.1, partial writes. Verifies the server
/// chain against `caFile` and the URL's host name, or (without a CA file) nothing at all,
/// since loopback benchmarks use throw-away certificates.
final class TLSClientContext {
    // OpenSSL pointers are owned by the single-threaded LoadGenerator and never cross threads.
    private let ctx: OpaquePointer
    let verifies: Bool

    init(caFile: String?) throws(TLSClientError) {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else {
            throw TLSClientError(description: "cannot create an SSL_CTX: \(OpenSSLError.drainReason() ?? "unknown error")")
        }
        self.ctx = ctx
        verifies = caFile != nil
        // OpenSSL's socket BIO writes with write(2), not send(MSG_NOSIGNAL): a server that
        // went away must give EPIPE, not kill the benchmark.
        signal(SIGPIPE, SIG_IGN)
        guard copenssl_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 else {
            throw TLSClientError(description: "cannot set the minimum TLS version")
        }
        // Partial writes: SSL_write returns after each record, like send(2) with a short count.
        // Moving buffer: a retried write may come from a reallocated outbox (same bytes, more after).
        _ = copenssl_SSL_CTX_set_mode(ctx, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
        let alpn: [UInt8] = [8] + Array("http/1.1".utf8)
        // SSL_CTX_set_alpn_protos returns 0 on success.
        guard SSL_CTX_set_alpn_protos(ctx, alpn, UInt32(alpn.count)) == 0 else {
            throw TLSClientError(description: "cannot set ALPN")
        }
        if let caFile {
            guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else {
                let reason = OpenSSLError.drainReason() ?? "unreadable"
                throw TLSClientError(description: "--tls-ca \(caFile): cannot load CA certificates (\(reason))")
            }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        }
    }

    deinit { SSL_CTX_free(ctx) }

    /// A client session on the connected socket `fd` for `endpoint`: SNI for host names,
    /// and with a CA file, a check that the certificate names the host (DNS or IP SAN).
    func makeConnection(fd: Int32, endpoint: Endpoint) throws(TLSClientError) -> TLSClientConnection {
        guard let ssl = SSL_new(ctx) else {
            throw TLSClientError(description: "SSL_new: \(OpenSSLError.drainReason() ?? "out of memory")")
        }
        let connection = TLSClientConnection(ssl: ssl)  // frees ssl if a step below fails
        guard SSL_set_fd(ssl, fd) == 1 else {
            throw TLSClientError(description: "SSL_set_fd: \(OpenSSLError.drainReason() ?? "failed")")
        }
        SSL_set_connect_state(ssl)
        let isAddress = endpoint.hostIsAddress
        if !isAddress {
            guard copenssl_SSL_set_tlsext_host_name(ssl, endpoint.host) == 1 else {
                throw TLSClientError(description: "cannot set SNI '\(endpoint.host)': \(OpenSSLError.drainReason() ?? "refused")")
            }
        }
        if verifies {
            let ok = isAddress ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), endpoint.host) == 1
                               : SSL_set1_host(ssl, endpoint.host) == 1
            guard ok else {
                throw TLSClientError(description: "cannot check the certificate against '\(endpoint.host)': \(OpenSSLError.drainReason() ?? "refused")")
            }
        }
        return connection
    }
}

/// One connection's TLS session over its non-blocking socket. The caller owns the socket
/// (SSL_set_fd does not close it) and must not use this after closing it.
final class TLSClientConnection {
    // Owned by the single-threaded LoadGenerator, like the SSL_CTX it came from.
    private let ssl: OpaquePointer
    private var handshakeDone = false
    /// After a fatal error OpenSSL forbids SSL_shutdown.
    private var failed = false
    /// The last read needs the socket writable (a TLS 1.3 key update answer, say).
    private(set) var readWantsWrite = false
    /// The last write needs the socket readable before it can go on.
    private(set) var writeWantsRead = false

    fileprivate init(ssl: OpaquePointer) { self.ssl = ssl }

    deinit { SSL_free(ssl) }

    /// Bytes OpenSSL holds (decrypted, or a partial record) that epoll cannot report.
    var hasBufferedInput: Bool { SSL_has_pending(ssl) == 1 }

    /// Whether the socket must be watched for writability, given whether the caller has
    /// unsent bytes of its own.
    func wantsWritable(outboxPending: Bool) -> Bool {
        (outboxPending && !writeWantsRead) || readWantsWrite
    }

    /// One step of the client handshake; `.done(0)` once it is complete.
    func handshake() -> TLSIOResult {
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            handshakeDone = true
            return .done(0)
        }
        return outcome(rc, during: "TLS handshake")
    }

    /// Reads decrypted bytes into `buffer` (one record's worth at most per call).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> TLSIOResult {
        var count = 0
        let rc = SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count)
        let result = rc == 1 ? .done(count) : outcome(rc, during: "TLS read")
        readWantsWrite = result == .wantWrite
        return result
    }

    /// Encrypts and sends a prefix of `bytes`. After `.wantRead`/`.wantWrite` the caller
    /// must retry with the same bytes (more may follow them).
    func write(_ bytes: UnsafeRawBufferPointer) -> TLSIOResult {
        var count = 0
        let rc = SSL_write_ex(ssl, bytes.baseAddress, bytes.count, &count)
        let result = rc == 1 ? .done(count) : outcome(rc, during: "TLS write")
        writeWantsRead = result == .wantRead
        return result
    }

    /// Sends close_notify if the session is healthy; never waits for the peer's.
    func shutdown() {
        guard handshakeDone && !failed else { return }
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    private func outcome(_ rc: Int32, during operation: String) -> TLSIOResult {
        let code = SSL_get_error(ssl, rc)
        switch code {
        case SSL_ERROR_WANT_READ:
            return .wantRead
        case SSL_ERROR_WANT_WRITE:
            return .wantWrite
        case SSL_ERROR_ZERO_RETURN:
            ERR_clear_error()
            return .closed
        case SSL_ERROR_SYSCALL:
            failed = true
            let reason = OpenSSLError.drainReason()
            let err = errno
            // No queued error and errno 0: the peer closed TCP without close_notify.
            if reason == nil && err == 0 { return handshakeDone ? .closed : .error("\(operation): connection closed by the server") }
            return .error("\(operation): \(reason ?? String(cString: strerror(err)))")
        default:
            failed = true
            var reason = OpenSSLError.drainReason() ?? "error \(code)"
            let verify = SSL_get_verify_result(ssl)
            if !handshakeDone && verify != Int(X509_V_OK) {
                reason += " (\(String(cString: X509_verify_cert_error_string(verify))))"
            }
            return .error("\(operation): \(reason)")
        }
    }
}
