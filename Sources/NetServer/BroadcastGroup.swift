// A set of WebSocket connections that receive the same messages: ws-echo's relay, or
// every phone of one class. A message is framed once, compressed once, and handed to
// each member's queue by its own loop (one hop per loop, not per connection): LoopFanout
// walks the members, FanoutRing keeps who still needs what.
import Dispatch
import WebSocketCodec
import Synchronization

/// The frames of one broadcast message: plain, and permessage-deflate compressed per
/// negotiated server window size. Immutable, shared by every recipient.
public final class BroadcastFrames: Sendable {
    public let plain: ByteBuffer
    private let compressedByWindow: [Int: ByteBuffer]

    init(plain: ByteBuffer, compressed: [Int: ByteBuffer]) {
        self.plain = plain
        self.compressedByWindow = compressed
    }

    func compressed(windowBits: Int) -> ByteBuffer? { compressedByWindow[windowBits] }
}

/// The messages a loop's fan-out keeps per group until every member there has them.
struct QueuedBroadcast {
    let frames: BroadcastFrames
    let kind: OutboundKind
    /// When `broadcast` was called (for the fan-out time in the loop's stats).
    let enqueuedAt: UInt64
}

/// One group's members on one loop. Owned by that loop's queue: a separate object per loop,
/// so loops never write to shared storage.
final class LoopMembers: @unchecked Sendable {
    var ring = FanoutRing<Connection, QueuedBroadcast>()
    /// In the loop's list of groups with messages owed.
    var isActive = false
}

/// `perLoop[i]` is touched only on `loops[i].queue`; `shared` is guarded by its lock and
/// `total` is atomic. Joins, leaves and messages reach each loop in the order they were
/// called (one queue of operations per loop), so a member added before a broadcast gets it.
public final class BroadcastGroup: Sendable {
    private let loops: [EventLoop]
    private let perLoop: [LoopMembers]
    /// Members over all loops, for metrics and tests: read without visiting any loop.
    private let total = Atomic<Int>(0)
    private let threshold: Int
    /// Window sizes of the deflate members, so we compress only for sizes in use, and a
    /// compressor for the callers of broadcast (any thread).
    private let shared: Locked<(windows: [Int: Int], compressor: SharedDeflateCompressor)>
    /// Orders concurrent broadcasts (ws-echo publishers on several loops) the same way on every loop.
    private let sendOrder = Locked(())

    init(loops: [EventLoop], compressionThreshold: Int) {
        self.loops = loops
        self.perLoop = loops.map { _ in LoopMembers() }
        self.threshold = compressionThreshold
        self.shared = Locked(([:], SharedDeflateCompressor()))
    }

    /// This group's state on loop `index`; only that loop touches its contents.
    func members(on index: Int) -> LoopMembers { perLoop[index] }

    /// Adds a WebSocket connection. Any thread.
    public func add(_ c: Connection) {
        c.loop.fanout.submit(.add(self, c))
    }

    public func remove(_ c: Connection) {
        c.loop.fanout.submit(.remove(self, c))
    }

    /// On the connection's loop.
    func addOnLoop(_ c: Connection) {
        guard !c.isClosed, !c.groups.contains(where: { $0 === self }) else { return }
        members(on: c.loop.index).ring.add(c)
        total.add(1, ordering: .relaxed)
        c.groups.append(self)
        if let w = c.deflate?.serverMaxWindowBits {
            shared.withLock { $0.windows[w, default: 0] += 1 }
        }
    }

    /// On the connection's loop.
    func removeOnLoop(_ c: Connection) {
        c.groups.removeAll { $0 === self }
        guard members(on: c.loop.index).ring.remove(c) else { return }
        total.subtract(1, ordering: .relaxed)
        if let w = c.deflate?.serverMaxWindowBits {
            shared.withLock { state in
                state.windows[w, default: 1] -= 1
                if state.windows[w] == 0 { state.windows[w] = nil }
            }
        }
    }

    /// Frames (and compresses, once per window size in use) a message for this group.
    public func makeFrames(opcode: WebSocketOpcode = .text, payload: [UInt8]) -> BroadcastFrames {
        let plain = payload.withUnsafeBytes { ByteBuffer(WebSocketFrameEncoder.encode(opcode: opcode, payload: $0)) }
        var compressed: [Int: ByteBuffer] = [:]
        if payload.count >= threshold {
            shared.withLock { state in
                for w in state.windows.keys {
                    let body = payload.withUnsafeBytes { state.compressor.compress($0, windowBits: w) }
                    compressed[w] = ByteBuffer(WebSocketFrameEncoder.encode(opcode: opcode, payload: body, rsv1: true))
                }
            }
        }
        return BroadcastFrames(plain: plain, compressed: compressed)
    }

    /// Sends a message to every member. Safe from any thread.
    /// `.supersedable` messages replace an older one still waiting in a slow member's queue.
    public func broadcast(text: [UInt8], kind: OutboundKind = .ordinary) {
        broadcast(makeFrames(payload: text), kind: kind)
    }

    public func broadcast(_ frames: BroadcastFrames, kind: OutboundKind = .ordinary) {
        let message = QueuedBroadcast(frames: frames, kind: kind, enqueuedAt: DispatchTime.now().uptimeNanoseconds)
        sendOrder.withLock { _ in
            for loop in loops { loop.fanout.submit(.broadcast(self, message)) }
        }
    }

    /// Number of members over all loops (never waits for a loop).
    public func count() -> Int { total.load(ordering: .relaxed) }
}
