// A value behind a pthread mutex.
//
// Why not Synchronization.Mutex: on Linux it locks with raw futex calls, which ThreadSanitizer
// does not see, so every access inside `withLock` is reported as a race (seen on the broadcast
// queue of EventLoop). pthread mutexes are intercepted by TSan, cost the same when
// uncontended, and keep the race checks of `scripts/test.sh` meaningful.
#if canImport(Glibc)
import Glibc
#endif

/// `value` is only touched while `mutex` is held.
public final class Locked<Value>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
