import CEpoll
import Glibc

/// Monotonic clock in nanoseconds (CLOCK_MONOTONIC), the time base of every figure.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Writes a line to stderr without Foundation's buffered handles (and without the
/// non-Sendable `stderr` global).
func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
}

struct SystemError: Error, CustomStringConvertible {
    let call: String
    let code: Int32
    init(_ call: String, _ code: Int32 = errno) {
        self.call = call
        self.code = code
    }
    var description: String { "\(call): \(String(cString: strerror(code)))" }
}

/// A thin wrapper over one epoll instance. Each registered socket carries a token
/// (the connection's index), so dispatch needs no dictionary lookup.
final class Epoll {
    struct Event {
        let token: Int
        let readable: Bool
        let writable: Bool
        let failed: Bool
    }

    private let fd: Int32
    private let capacity = 4096
    private let events: UnsafeMutablePointer<epoll_event>

    init() throws {
        fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw SystemError("epoll_create1") }
        events = .allocate(capacity: capacity)
    }

    deinit {
        events.deallocate()
        close(fd)
    }

    private static func mask(writable: Bool) -> UInt32 {
        EPOLLIN.rawValue | EPOLLRDHUP.rawValue | (writable ? EPOLLOUT.rawValue : 0)
    }

    func add(_ socket: Int32, token: Int, writable: Bool) throws {
        var event = epoll_event(events: Epoll.mask(writable: writable), data: epoll_data_t(u64: UInt64(token)))
        guard epoll_ctl(fd, EPOLL_CTL_ADD, socket, &event) == 0 else { throw SystemError("epoll_ctl(ADD)") }
    }

    func modify(_ socket: Int32, token: Int, writable: Bool) throws {
        var event = epoll_event(events: Epoll.mask(writable: writable), data: epoll_data_t(u64: UInt64(token)))
        guard epoll_ctl(fd, EPOLL_CTL_MOD, socket, &event) == 0 else { throw SystemError("epoll_ctl(MOD)") }
    }

    /// Waits up to `timeoutMs` and calls `handle` for each ready socket.
    func poll(timeoutMs: Int32, _ handle: (Event) -> Void) throws {
        let n = epoll_wait(fd, events, Int32(capacity), timeoutMs)
        if n < 0 {
            if errno == EINTR { return }
            throw SystemError("epoll_wait")
        }
        for i in 0..<Int(n) {
            let e = events[i].events
            handle(Event(token: Int(events[i].data.u64),
                         readable: e & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue) != 0,
                         writable: e & EPOLLOUT.rawValue != 0,
                         failed: e & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0))
        }
    }
}

/// Raises the soft open-files limit to at least `needed` (and the hard limit too
/// when running as root), since every connection is a file descriptor.
func raiseFileLimit(to needed: Int) throws {
    var limit = rlimit()
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    guard getrlimit(resource, &limit) == 0 else { throw SystemError("getrlimit") }
    let want = rlim_t(needed)
    guard limit.rlim_cur < want else { return }
    limit.rlim_cur = want
    if limit.rlim_max < want { limit.rlim_max = want }
    guard setrlimit(resource, &limit) == 0 else { throw SystemError("setrlimit(RLIMIT_NOFILE, \(needed))") }
}
