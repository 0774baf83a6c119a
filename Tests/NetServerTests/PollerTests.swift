import Testing
import Foundation
import Dispatch
import Synchronization
@testable import NetServer

/// Records what the poller reports, and on which queue. Touched on the poller's queue only;
/// the test reads the counters through that queue.
private final class Recorder: PollHandler, @unchecked Sendable {
    static let key = DispatchSpecificKey<String>()
    var readable = 0
    var writable = 0
    var offQueue = 0
    var onEvent: ((Recorder) -> Void)?

    func pollReady(readable r: Bool, writable w: Bool) {
        if DispatchQueue.getSpecific(key: Recorder.key) != "poller-test" { offQueue += 1 }
        if r { readable += 1 }
        if w { writable += 1 }
        onEvent?(self)
    }
}

@Suite struct PollerTests {
    /// A poller on a queue tagged so handlers can check they run on it.
    private func startedPoller() -> (DispatchQueue, Poller) {
        let queue = DispatchQueue(label: "poller-test")
        queue.setSpecific(key: Recorder.key, value: "poller-test")
        let poller = Poller(queue: queue, name: "poller-test")
        poller.run()
        return (queue, poller)
    }

    private func socketPair() -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
        return (fds[0], fds[1])
    }

    private func waitUntil(_ queue: DispatchQueue, timeout: Double = 2, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if queue.sync(execute: condition) { return true }
            usleep(5_000)
        }
        return false
    }

    @Test func readinessIsDeliveredOnTheLoopQueueAndStopsAfterRemove() {
        let (queue, poller) = startedPoller()
        defer { poller.close() }
        #expect(poller.failure == nil)
        let (a, b) = socketPair()
        defer { close(a); close(b) }
        let recorder = Recorder()
        // Drain what arrives, as a connection does (level-triggered: unread bytes report again).
        recorder.onEvent = { _ in
            var buffer = [UInt8](repeating: 0, count: 64)
            while read(a, &buffer, 64) > 0 {}
        }
        #expect(queue.sync { poller.add(a, recorder) })
        #expect(write(b, "x", 1) == 1)
        #expect(waitUntil(queue) { recorder.readable == 1 })
        // Writability is reported only while asked for.
        #expect(queue.sync { recorder.writable } == 0)
        queue.sync { poller.setWritable(a, true) }
        #expect(waitUntil(queue) { recorder.writable > 0 })
        queue.sync { poller.setWritable(a, false) }
        // A batch the waiting thread took before the change may still arrive, once; with
        // interest still on, the count would keep growing and never settle.
        var settled = queue.sync { recorder.writable }
        for _ in 0..<20 {
            usleep(30_000)
            let now = queue.sync { recorder.writable }
            if now == settled { break }
            settled = now
        }
        usleep(100_000)
        #expect(queue.sync { recorder.writable } == settled)
        // After remove nothing is delivered, even with bytes waiting.
        queue.sync { poller.remove(a) }
        #expect(write(b, "y", 1) == 1)
        usleep(50_000)
        #expect(queue.sync { recorder.readable } == 1)
        #expect(queue.sync { recorder.offQueue } == 0)
    }

    @Test func peerHangUpCountsAsReadable() {
        let (queue, poller) = startedPoller()
        defer { poller.close() }
        let (a, b) = socketPair()
        defer { close(a) }
        let recorder = Recorder()
        recorder.onEvent = { _ in poller.remove(a) }  // on the queue already
        #expect(queue.sync { poller.add(a, recorder) })
        close(b)
        #expect(waitUntil(queue) { recorder.readable >= 1 })
    }

    @Test func aBadDescriptorIsRefused() {
        let (queue, poller) = startedPoller()
        defer { poller.close() }
        let recorder = Recorder()
        #expect(queue.sync { poller.add(-1, recorder) } == false)
        // A regular file cannot be polled: epoll_ctl fails (EPERM) and nothing is registered.
        let file = open("/proc/self/stat", O_RDONLY)
        defer { close(file) }
        #expect(queue.sync { poller.add(file, recorder) } == false)
    }
}
