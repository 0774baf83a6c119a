// Small helpers around OpenSSL's C API: the per-thread error queue and memory BIOs.
import COpenSSL

public enum OpenSSLError {
    /// Empties this thread's OpenSSL error queue and returns the reason of its first (root)
    /// entry, e.g. "wrong version number". The queue is per thread and Dispatch reuses
    /// threads, so every caller drains it to keep one connection's errors from leaking into
    /// another's.
    public static func drainReason() -> String? {
        var reason: String?
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            if reason == nil {
                if let text = ERR_reason_error_string(code) {
                    reason = String(cString: text)
                } else {
                    var buffer = [CChar](repeating: 0, count: 256)
                    ERR_error_string_n(code, &buffer, buffer.count)
                    reason = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
            }
        }
        return reason
    }
}

enum MemoryBIO {
    /// A read-only BIO over `bytes`; the caller keeps `bytes` alive while it is used.
    static func withReadOnly<R>(_ bytes: [UInt8], _ body: (OpaquePointer) -> R) -> R? {
        bytes.withUnsafeBytes { raw -> R? in
            guard raw.count <= Int(Int32.max), let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return body(bio)
        }
    }

    /// Everything pending in a memory BIO, consumed.
    static func drain(_ bio: OpaquePointer) -> [UInt8] {
        let pending = BIO_ctrl_pending(bio)
        guard pending > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: pending) { buffer, count in
            var read = 0
            if BIO_read_ex(bio, buffer.baseAddress, pending, &read) != 1 { read = 0 }
            count = read
        }
    }

    /// Writes PEM (or other text) through a fresh memory BIO and returns it as a string.
    static func text(_ write: (OpaquePointer) -> Bool) -> String? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard write(bio) else { return nil }
        return String(decoding: drain(bio), as: UTF8.self)
    }
}
