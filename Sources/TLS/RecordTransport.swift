// The in-memory BIO between OpenSSL and a TLSSession. OpenSSL reads ciphertext straight from
// the caller's buffer and appends what it writes to an array the session hands back.
//
// Why not two BIO_s_mem: their buffers only ever grow (a 64 KiB read leaves 85 KiB behind
// per connection), they copy every received byte once more, and the two BIO objects alone
// are 700 bytes. This BIO owns no buffer, so an idle connection keeps nothing here.
import COpenSSL

/// The bytes crossing the BIO during one `TLSSession` call. Owned by the session (and so by
/// the connection's queue); the BIO refers to it without retaining it.
final class RecordTransport {
    /// Received bytes OpenSSL did not read during an earlier call; read before `input`.
    /// Normally empty: every call reads until OpenSSL asks for more.
    private var carry: [UInt8] = []
    /// The caller's ciphertext, valid only during `receive`.
    private var input = UnsafeRawBufferPointer(start: nil, count: 0)
    /// Records OpenSSL wrote during the current call.
    private var output: [UInt8] = []

    var unreadCount: Int { carry.count + input.count }

    /// Runs `body` with `bytes` readable by OpenSSL; keeps whatever it left unread.
    func reading<R>(_ bytes: UnsafeRawBufferPointer, _ body: () -> R) -> R {
        input = bytes
        defer {
            if !input.isEmpty { carry.append(contentsOf: input) }
            input = UnsafeRawBufferPointer(start: nil, count: 0)
        }
        return body()
    }

    /// Hands over (and forgets) what OpenSSL wrote; the session keeps no capacity.
    func takeOutput() -> [UInt8] {
        var taken: [UInt8] = []
        swap(&taken, &output)
        return taken
    }

    /// Drops unread input, after a failure or the peer's close_notify.
    func discardInput() {
        carry = []
        input = UnsafeRawBufferPointer(start: nil, count: 0)
    }

    fileprivate func read(into destination: UnsafeMutableRawPointer, capacity: Int) -> Int {
        if !carry.isEmpty {
            let n = min(capacity, carry.count)
            UnsafeMutableRawBufferPointer(start: destination, count: n).copyBytes(from: carry[0..<n])
            carry.removeFirst(n)
            return n
        }
        let n = min(capacity, input.count)
        if n > 0 {
            UnsafeMutableRawBufferPointer(start: destination, count: n).copyMemory(from: UnsafeRawBufferPointer(rebasing: input[0..<n]))
            input = UnsafeRawBufferPointer(rebasing: input[n...])
        }
        return n
    }

    fileprivate func write(_ bytes: UnsafeRawBufferPointer) {
        output.append(contentsOf: bytes)
    }

    /// A BIO reading from and writing to `self`. The caller gives it to an SSL object, which
    /// frees it; `self` must outlive that SSL object.
    func makeBIO() -> OpaquePointer? {
        guard let method = RecordTransportMethod.shared.method, let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        return bio
    }

    fileprivate static func from(_ bio: OpaquePointer?) -> RecordTransport? {
        guard let bio, let data = BIO_get_data(bio) else { return nil }
        return Unmanaged<RecordTransport>.fromOpaque(data).takeUnretainedValue()
    }
}

/// The BIO_METHOD, created once per process.
private final class RecordTransportMethod: @unchecked Sendable {
    // Immutable after init; OpenSSL only reads a BIO_METHOD, from any thread.
    let method: OpaquePointer?

    static let shared = RecordTransportMethod()

    private init() {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "classctl record transport") else {
            self.method = nil
            return
        }
        _ = BIO_meth_set_create(method) { bio in
            BIO_set_init(bio, 1)
            return 1
        }
        _ = BIO_meth_set_destroy(method) { _ in 1 }  // owns nothing
        _ = BIO_meth_set_read_ex(method) { bio, data, capacity, readCount in
            copenssl_BIO_clear_retry_flags(bio)
            guard let transport = RecordTransport.from(bio), let data, let readCount else { return 0 }
            let n = transport.read(into: data, capacity: capacity)
            readCount.pointee = n
            if n == 0 {
                // "Nothing yet", not end of file: the handshake or read resumes on the next receive.
                copenssl_BIO_set_retry_read(bio)
                return 0
            }
            return 1
        }
        _ = BIO_meth_set_write_ex(method) { bio, data, count, written in
            copenssl_BIO_clear_retry_flags(bio)
            guard let transport = RecordTransport.from(bio), let data, let written else { return 0 }
            transport.write(UnsafeRawBufferPointer(start: data, count: count))
            written.pointee = count
            return 1
        }
        _ = BIO_meth_set_ctrl(method) { bio, command, _, _ in
            switch command {
            case BIO_CTRL_FLUSH: return 1  // output is handed over at the end of each call
            case BIO_CTRL_PENDING: return RecordTransport.from(bio).map { $0.unreadCount } ?? 0
            default: return 0
            }
        }
        self.method = method
    }
}
