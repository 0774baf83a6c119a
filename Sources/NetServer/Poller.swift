// Socket readiness for one event loop: one epoll instance and one thread waiting on it, which
// runs each batch of ready sockets on the loop's queue with `queue.sync`.
//
// Why not Dispatch read sources: on Linux libdispatch watches every source from its manager
// thread, so each readiness event costs a hop from that thread to a worker and another back to
// re-arm the source, and opening or closing a connection hops through it too. Measured with
// `openssl s_time` (one short TLS connection after another) that overhead was most of the gap
// to nginx. With `sync` from the waiting thread an idle queue runs the batch right there, on the
// thread that woke up: no hand-off at all. The queue stays the owner of every connection:
// work sent to it with `async` (broadcasts, sends from the class engine, timers) runs between
// batches, exactly as before.
#if canImport(Glibc)
import Glibc
#endif
import CEpoll
import Dispatch
import Foundation
import Synchronization

/// Something registered with a poller: told, on the loop's queue, that its descriptor is ready.
protocol PollHandler: AnyObject {
    /// `readable` includes hang-up and error conditions (a read then reports them).
    func pollReady(readable: Bool, writable: Bool)
}

/// The descriptor table is owned by the loop's `queue` (every method but `close` runs there);
/// the event buffer is used only by the waiting thread, inside `queue.sync`.
final class Poller: @unchecked Sendable {
    private let queue: DispatchQueue
    private let epfd: Int32
    /// Written once by `close()` to wake the waiting thread for good.
    private let wakeFD: Int32
    private let stopping = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)
    /// The waiting thread's name, e.g. "classctl.poll.0".
    private let name: String
    private let events: UnsafeMutablePointer<epoll_event>
    private static let batch = 256
    private static let wakeToken = UInt64.max

    /// Indexed by descriptor. The generation is carried in each epoll event, so an event
    /// queued for a descriptor that was closed (and perhaps reused) meanwhile is dropped.
    private struct Slot {
        var handler: PollHandler?
        var generation: UInt32 = 0
    }
    private var slots: [Slot] = []
    private var nextGeneration: UInt32 = 0

    /// Why the poller could not be set up (out of descriptors); the server refuses to start then.
    let failure: PollerError?

    init(queue: DispatchQueue, name: String) {
        self.queue = queue
        self.name = name
        events = .allocate(capacity: Poller.batch)
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        let epollErrno = errno
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        let wakeErrno = errno
        guard epfd >= 0, wakeFD >= 0 else {
            failure = epfd < 0 ? PollerError(call: "epoll_create1", code: epollErrno) : PollerError(call: "eventfd", code: wakeErrno)
            if epfd >= 0 { _ = Glibc.close(epfd) }
            if wakeFD >= 0 { _ = Glibc.close(wakeFD) }
            return
        }
        var wake = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: Poller.wakeToken))
        _ = epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFD, &wake)
        failure = nil
    }

    /// Starts the waiting thread (once). Until then nothing is delivered; a loop whose server
    /// never starts holds no thread.
    func run() {
        guard failure == nil, !started.exchange(true, ordering: .relaxed) else { return }
        let thread = Thread { [self] in self.waitLoop() }
        thread.name = name
        thread.start()
    }

    deinit {
        events.deallocate()
        // Closed only here, once nothing can call epoll_ctl with this number any more.
        if failure == nil {
            _ = Glibc.close(epfd)
            _ = Glibc.close(wakeFD)
        }
    }

    /// Stops the waiting thread. Sockets still registered are not closed here (their
    /// connections own them).
    func close() {
        guard failure == nil, !stopping.exchange(true, ordering: .relaxed) else { return }
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    private func waitLoop() {
        while !stopping.load(ordering: .relaxed) {
            let n = epoll_wait(epfd, events, Int32(Poller.batch), -1)
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            if n == 0 || stopping.load(ordering: .relaxed) { continue }
            // Runs right here when the queue is idle; otherwise after the work ahead of it.
            queue.sync { self.deliver(Int(n)) }
        }
    }

    /// Starts watching `fd` for reading; on failure errno says why. `exclusive` asks the
    /// kernel to wake only one of the pollers sharing the descriptor (the listening socket).
    func add(_ fd: Int32, _ handler: PollHandler, exclusive: Bool = false) -> Bool {
        guard fd >= 0, epfd >= 0 else { return false }
        if Int(fd) >= slots.count { slots.append(contentsOf: repeatElement(Slot(), count: Int(fd) + 1 - slots.count)) }
        nextGeneration &+= 1
        slots[Int(fd)] = Slot(handler: handler, generation: nextGeneration)
        // EPOLLEXCLUSIVE allows only EPOLLIN/EPOLLOUT beside it (EINVAL with EPOLLRDHUP).
        let mask = exclusive ? EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue : Poller.mask(writable: false)
        var event = epoll_event(events: mask,
                                data: epoll_data_t(u64: Poller.token(fd, nextGeneration)))
        guard epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event) == 0 else {
            slots[Int(fd)] = Slot()
            return false
        }
        return true
    }

    /// Adds or removes interest in writability (level-triggered: only while bytes wait).
    func setWritable(_ fd: Int32, _ writable: Bool) {
        guard Int(fd) < slots.count, slots[Int(fd)].handler != nil else { return }
        var event = epoll_event(events: Poller.mask(writable: writable),
                                data: epoll_data_t(u64: Poller.token(fd, slots[Int(fd)].generation)))
        _ = epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &event)
    }

    /// Stops watching `fd`; call before closing it.
    func remove(_ fd: Int32) {
        guard fd >= 0, Int(fd) < slots.count, slots[Int(fd)].handler != nil else { return }
        slots[Int(fd)] = Slot()
        var unused = epoll_event()
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &unused)
    }

    private func deliver(_ n: Int) {
        for i in 0..<n {
            let e = events[i]
            if e.data.u64 == Poller.wakeToken { continue }
            let fd = Int(e.data.u64 & 0xFFFF_FFFF)
            let generation = UInt32(truncatingIfNeeded: e.data.u64 >> 32)
            guard fd < slots.count, slots[fd].generation == generation, let handler = slots[fd].handler else { continue }
            let bits = e.events
            let readable = bits & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
            handler.pollReady(readable: readable, writable: bits & EPOLLOUT.rawValue != 0)
        }
    }

    private static func mask(writable: Bool) -> UInt32 {
        EPOLLIN.rawValue | EPOLLRDHUP.rawValue | (writable ? EPOLLOUT.rawValue : 0)
    }

    private static func token(_ fd: Int32, _ generation: UInt32) -> UInt64 {
        UInt64(UInt32(bitPattern: fd)) | UInt64(generation) << 32
    }
}

struct PollerError: Error, CustomStringConvertible {
    let call: String
    let code: Int32
    var description: String { "\(call): \(String(cString: strerror(code)))" }
}
