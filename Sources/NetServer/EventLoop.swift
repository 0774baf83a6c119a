// An event loop is one serial DispatchQueue that owns a set of connections. Its poller (one
// epoll instance and a thread waiting on it) delivers readiness on that queue, so a
// connection's state is only ever touched there: no locks on the per-connection path.
import Dispatch
import Foundation
import WebSocketCodec
import Synchronization

/// Counters of one loop; only written on the loop's queue.
public struct LoopStats: Sendable {
    public var accepted = 0
    public var closed = 0
    public var httpRequests = 0
    public var webSocketsOpened = 0
    public var messagesIn = 0
    public var messagesOut = 0
    public var bytesIn = 0
    public var bytesOut = 0
    public var slowClientsDropped = 0
    public var supersededMessages = 0
    /// Fan-out runs on loops, and how long they took from the broadcast call (µs).
    public var broadcastRuns = 0
    public var broadcastMicrosTotal = 0
    public var broadcastMicrosMax = 0

    mutating func add(_ o: LoopStats) {
        accepted += o.accepted; closed += o.closed; httpRequests += o.httpRequests
        webSocketsOpened += o.webSocketsOpened; messagesIn += o.messagesIn; messagesOut += o.messagesOut
        bytesIn += o.bytesIn; bytesOut += o.bytesOut; slowClientsDropped += o.slowClientsDropped
        supersededMessages += o.supersededMessages
        broadcastRuns += o.broadcastRuns; broadcastMicrosTotal += o.broadcastMicrosTotal
        broadcastMicrosMax = max(broadcastMicrosMax, o.broadcastMicrosMax)
    }
}

/// Owned by `queue`: every mutable property below is touched only on it, except
/// `published`, which is guarded by its lock (and `fanout`'s own lock inside it).
public final class EventLoop: @unchecked Sendable {
    public let index: Int
    public let queue: DispatchQueue
    private static let key = DispatchSpecificKey<Int>()

    /// One read buffer for every connection of the loop: a connection keeps no buffer while idle.
    let readBuffer: UnsafeMutableRawBufferPointer
    /// permessage-deflate compressor shared by the loop's connections (no context takeover).
    var compressor = SharedDeflateCompressor()
    var connections: [Connection] = []
    /// Readiness of this loop's sockets (and of the shared listening socket).
    let poller: Poller
    /// Connections assigned to this loop, open or being set up; read by the accepting loop
    /// to place each new connection on the least busy loop.
    let assigned = Atomic<Int>(0)
    var stats = LoopStats()
    /// A copy of `stats` that other threads may read without waiting for this loop (routes
    /// such as /metrics run on another loop). Refreshed by the loop's once-a-second sweep.
    private let published = Locked(LoopStats())
    private var timer: DispatchSourceTimer?

    /// The broadcast path (LoopFanout.swift). Set once at the end of init, before the loop is shared.
    private(set) var fanout: LoopFanout!

    init(index: Int, readBufferSize: Int = 64 * 1024) {
        self.index = index
        queue = DispatchQueue(label: "classctl.loop.\(index)", qos: .userInitiated)
        queue.setSpecific(key: EventLoop.key, value: index)
        poller = Poller(queue: queue, name: "classctl.poll.\(index)")
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readBufferSize, alignment: 16)
        fanout = LoopFanout(loop: self)
    }

    deinit { readBuffer.deallocate() }

    var inLoop: Bool { DispatchQueue.getSpecific(key: EventLoop.key) == index }

    /// Runs `body` on the loop: at once when already there, else asynchronously.
    public func execute(_ body: @escaping @Sendable () -> Void) {
        if inLoop { body() } else { queue.async(execute: body) }
    }

    func startTimer(interval: DispatchTimeInterval, _ tick: @escaping @Sendable (EventLoop) -> Void) {
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(100))
        t.setEventHandler { [unowned self] in tick(self) }
        t.resume()
        timer = t
    }

    func stopTimer() { timer?.cancel(); timer = nil }

    /// On the loop: makes the current counters visible to `publishedStats`.
    func publishStats() {
        let s = stats
        published.withLock { $0 = s }
    }

    /// The counters as of the last `publishStats` (at most a second old); any thread, never waits for the loop.
    var publishedStats: LoopStats { published.withLock { $0 } }

    func register(_ c: Connection) {
        c.loopSlot = connections.count
        connections.append(c)
        stats.accepted += 1
    }

    func unregister(_ c: Connection) {
        guard let i = c.loopSlot, i < connections.count, connections[i] === c else { return }
        let last = connections.removeLast()
        if i < connections.count {
            connections[i] = last
            last.loopSlot = i
        }
        c.loopSlot = nil
        stats.closed += 1
    }
}
