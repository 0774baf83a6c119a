// The TLS side of one connection: ciphertext read from the socket goes through the session
// and comes out as plaintext for the codecs; plaintext waiting to go out is sealed into records
// only when the socket has taken every earlier byte. The connection above it sees plaintext
// either way (a plain connection simply has no TLSChannel).
#if canImport(Glibc)
import Glibc
#endif
import TLS

/// Confined to its connection's loop queue, like the connection. A value stored inline in the
/// connection (no object of its own): the session, the ciphertext queue and the opening time.
struct TLSChannel {
    let session: TLSSession
    /// Ciphertext ready for the socket: handshake records, alerts, sealed application data.
    private var wire = OutboundQueue()
    /// Monotonic ms when the connection opened: the handshake must finish within
    /// `ServerConfiguration.tlsHandshakeTimeoutMs` of it.
    private let openedAt: Int64

    init(session: TLSSession, openedAt: Int64) {
        self.session = session
        self.openedAt = openedAt
    }

    /// Bytes waiting for the socket (ciphertext, and the clear 400 to plain HTTP).
    var pendingByteCount: Int { wire.byteCount }
    var hasPendingBytes: Bool { !wire.isEmpty }

    /// Whether a client that opened TCP has failed to finish the handshake in time.
    func handshakeIsOverdue(now: Int64, timeoutMs: Int64) -> Bool {
        !session.isHandshakeComplete && now - openedAt > timeoutMs
    }

    /// Feeds ciphertext read from the socket. Records OpenSSL answers with (handshake,
    /// alerts) are queued for the socket; the caller gets the plaintext and what happened.
    mutating func receive(_ ciphertext: UnsafeRawBufferPointer) -> TLSReceiveResult {
        let r = session.receive(ciphertext)
        if !r.ciphertextToSend.isEmpty {
            wire.append(ByteBuffer(r.ciphertextToSend), kind: .ordinary)
        }
        return r
    }

    /// Queues bytes to go out unencrypted after what is queued: the answer to a client that
    /// does not speak TLS at all.
    mutating func queueInClear(_ bytes: [UInt8]) {
        wire.append(ByteBuffer(bytes), kind: .ordinary)
    }

    enum FlushResult { case drained, waiting, failed }

    /// Writes pending ciphertext; when the socket has taken all of it, seals what waits in
    /// `plaintext` into new records and goes on. Plaintext is sealed this late so that a newer
    /// class state can still replace an older one for a slow phone (sealed records cannot be
    /// dropped without breaking the stream). Adds what the socket took to `bytesOut`.
    mutating func flush(fd: Int32, plaintext: inout OutboundQueue, bytesOut: inout Int) -> FlushResult {
        while true {
            if !wire.isEmpty {
                let before = wire.byteCount
                guard wire.flush(fd: fd) else { return .failed }
                bytesOut += before - wire.byteCount
                if !wire.isEmpty { return .waiting }
            }
            // Application data only after the handshake (OpenSSL would buffer it anyway).
            guard !plaintext.isEmpty, session.isHandshakeComplete else { return plaintext.isEmpty ? .drained : .waiting }
            var sealed: [UInt8] = []
            plaintext.drain { sealed.append(contentsOf: session.encrypt($0)) }
            wire.append(ByteBuffer(sealed), kind: .ordinary)
        }
    }

    /// Encrypts bytes for a best-effort write straight to the socket (the close frame to a
    /// slow consumer, whose queue is being dropped).
    func seal(_ bytes: [UInt8]) -> [UInt8] { session.encrypt(bytes) }

    /// Sends close_notify straight to the socket (best effort) once the handshake is done:
    /// the last thing before the connection half-closes.
    func sendCloseNotify(fd: Int32) {
        guard session.isHandshakeComplete else { return }
        let notify = session.close()
        notify.withUnsafeBytes { _ = Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Drops everything waiting for the socket (slow consumer, teardown).
    mutating func discardPending() { wire.removeAll() }
}
