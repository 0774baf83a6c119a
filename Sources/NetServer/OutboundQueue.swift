// Per-connection outbound bytes: a queue of immutable, shareable buffers.
#if canImport(Glibc)
import Glibc
#endif

/// Immutable bytes with a stable address, shared by every connection a broadcast goes to.
/// Not confined to a queue: the bytes are written once in init and only read afterwards.
public final class ByteBuffer: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    public let count: Int

    public init(_ bytes: [UInt8]) {
        count = bytes.count
        base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
        bytes.withUnsafeBytes { src in
            if let s = src.baseAddress, count > 0 { base.copyMemory(from: s, byteCount: count) }
        }
    }

    public init(_ bytes: UnsafeRawBufferPointer) {
        count = bytes.count
        base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
        if let s = bytes.baseAddress, count > 0 { base.copyMemory(from: s, byteCount: count) }
    }

    deinit { base.deallocate() }

    public var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: base, count: count)) }
}

/// Kind of a queued message, for replacement and dropping decisions.
public enum OutboundKind: UInt8, Sendable {
    /// Never dropped or replaced (announcements, control frames, responses).
    case ordinary = 0
    /// A newer message of the same kind replaces one still waiting (a newer class state
    /// supersedes an older one for a slow phone).
    case supersedable = 1
}

/// FIFO of buffers waiting to be written. Confined to its connection's loop queue.
struct OutboundQueue {
    struct Entry {
        let buffer: ByteBuffer
        var offset: Int
        let kind: OutboundKind
    }

    private(set) var entries: [Entry] = []
    private(set) var head = 0
    private(set) var byteCount = 0

    var isEmpty: Bool { head == entries.count }

    /// `offset`: bytes of `buffer` already written (the rest of a partly sent fan-out write).
    mutating func append(_ buffer: ByteBuffer, kind: OutboundKind, offset: Int = 0) {
        if kind == .supersedable {
            // Drop waiting supersedable entries that have not started going out (a partly
            // written one must finish, or the stream would be corrupted).
            var i = entries.count - 1
            while i >= head {
                let e = entries[i]
                if e.kind == .supersedable && e.offset == 0 {
                    byteCount -= e.buffer.count
                    entries.remove(at: i)
                }
                i -= 1
            }
        }
        entries.append(Entry(buffer: buffer, offset: offset, kind: kind))
        byteCount += buffer.count - offset
    }

    /// Writes as much as the socket takes with one sendmsg (gathering up to 64 buffers).
    /// Returns false on a fatal socket error; true otherwise (including EAGAIN).
    mutating func flush(fd: Int32) -> Bool {
        while !isEmpty {
            let n = min(entries.count - head, 64)
            let (written, error) = sendGathered(fd: fd, capacity: n) { iov in
                for k in 0..<n {
                    let e = entries[head + k]
                    iov[k] = iovec(iov_base: e.buffer.base + e.offset, iov_len: e.buffer.count - e.offset)
                }
                return n
            }
            if written < 0 { return error == EAGAIN || error == EWOULDBLOCK }
            consume(written)
            if written == 0 { return true }
        }
        return true
    }

    private mutating func consume(_ count: Int) {
        var left = count
        byteCount -= count
        while left > 0 && head < entries.count {
            let remaining = entries[head].buffer.count - entries[head].offset
            if left >= remaining {
                left -= remaining
                head += 1
            } else {
                entries[head].offset += left
                left = 0
            }
        }
        if head == entries.count {
            // Release storage: an idle connection keeps no queue memory.
            entries = []
            head = 0
        } else if head > 32 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }

    /// Hands every waiting byte range to `body` in order and empties the queue (TLS
    /// encrypts at write time, so an unsent state can still be replaced before it is sealed).
    mutating func drain(_ body: (UnsafeRawBufferPointer) -> Void) {
        for e in entries[head...] {
            body(UnsafeRawBufferPointer(start: e.buffer.base + e.offset, count: e.buffer.count - e.offset))
        }
        removeAll()
    }

    mutating func removeAll() {
        entries = []
        head = 0
        byteCount = 0
    }
}

/// One gathered write (`sendmsg`, no SIGPIPE, retried on EINTR) of the buffers `fill` puts in
/// up to `capacity` iovecs (it returns how many). Returns the bytes written, or -1 and the errno.
func sendGathered(fd: Int32, capacity: Int, _ fill: (UnsafeMutableBufferPointer<iovec>) -> Int) -> (written: Int, error: Int32) {
    withUnsafeTemporaryAllocation(of: iovec.self, capacity: capacity) { iov in
        var msg = msghdr()
        msg.msg_iov = iov.baseAddress
        msg.msg_iovlen = fill(iov)
        var r: Int
        repeat { r = sendmsg(fd, &msg, Int32(MSG_NOSIGNAL)) } while r < 0 && errno == EINTR
        return (r, r < 0 ? errno : 0)
    }
}

