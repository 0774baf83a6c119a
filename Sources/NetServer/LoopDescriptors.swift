// For clients that live on an event loop (the Redis client): watching a descriptor of one's
// own with the loop's poller, as `Server`'s acceptor does, and loops that belong to no Server.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// Told on the loop's queue that a watched descriptor is ready. `readable` includes hang-up
/// and error conditions (a read then reports them).
public protocol DescriptorHandler: AnyObject {
    func descriptorReady(readable: Bool, writable: Bool)
}

/// Adapts a public handler to the poller's internal protocol. Owned by the loop's queue.
private final class DescriptorHandlerBox: PollHandler {
    let handler: DescriptorHandler
    init(_ handler: DescriptorHandler) { self.handler = handler }
    func pollReady(readable: Bool, writable: Bool) { handler.descriptorReady(readable: readable, writable: writable) }
}

/// Standalone loops get indices far from any Server's (0, 1, ...), so `inLoop` never confuses them.
private let nextStandaloneIndex = Atomic<Int>(1 << 20)

extension EventLoop {
    /// On the loop: starts watching `fd` for reading (level-triggered). The loop holds
    /// `handler` until `unwatch`. Returns 0, or the errno of the failure.
    public func watch(_ fd: Int32, _ handler: DescriptorHandler) -> Int32 {
        dispatchPrecondition(condition: .onQueue(queue))
        errno = 0
        if poller.add(fd, DescriptorHandlerBox(handler)) { return 0 }
        return errno != 0 ? errno : EBADF
    }

    /// On the loop: adds or removes interest in writability (ask only while bytes wait, or
    /// while a connect is in progress).
    public func watchWritable(_ fd: Int32, _ writable: Bool) {
        dispatchPrecondition(condition: .onQueue(queue))
        poller.setWritable(fd, writable)
    }

    /// On the loop: stops watching `fd`. Call before closing it.
    public func unwatch(_ fd: Int32) {
        dispatchPrecondition(condition: .onQueue(queue))
        poller.remove(fd)
    }

    /// Whether the caller is running on this loop's queue.
    public var isCurrent: Bool { inLoop }

    /// A loop of its own, outside any Server (a client process, tests): its poller thread
    /// runs from now until `stopStandalone()`.
    public static func standalone() -> EventLoop {
        let loop = EventLoop(index: nextStandaloneIndex.add(1, ordering: .relaxed).oldValue, readBufferSize: 16)
        loop.poller.run()
        return loop
    }

    /// Stops the poller thread of a loop made by `standalone()`. Descriptors still watched
    /// are not closed (their owners hold them); nothing is delivered to them any more.
    public func stopStandalone() {
        poller.close()
    }
}
