// A set of WebSocket connections that receive the same messages: ws-echo's relay, or
// every phone of one class. A message is framed once, compressed once, and handed to
// each member's queue by its own loop (one hop per loop, not per connection).
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

/// The members of one group on one loop. Owned by that loop's queue: a separate object per
/// loop, so loops never write to shared storage (one `[[Connection]]` would be one value
/// mutated from several threads).
final class LoopMembers: @unchecked Sendable {
    var list: [Connection] = []
}

/// `perLoop[i]` is touched only on `loops[i].queue`; `shared` is guarded by its lock and
/// `total` is atomic.
public final class BroadcastGroup: Sendable {
    private let loops: [EventLoop]
    private let perLoop: [LoopMembers]
    /// Members over all loops, for metrics and tests: read without visiting any loop.
    private let total = Atomic<Int>(0)
    private let threshold: Int
    /// Window sizes of the deflate members, so we compress only for sizes in use, and a
    /// compressor for the callers of broadcast (any thread).
    private let shared: Locked<(windows: [Int: Int], compressor: SharedDeflateCompressor)>

    init(loops: [EventLoop], compressionThreshold: Int) {
        self.loops = loops
        self.perLoop = loops.map { _ in LoopMembers() }
        self.threshold = compressionThreshold
        self.shared = Locked(([:], SharedDeflateCompressor()))
    }

    /// On loop `loop`'s queue only.
    func members(on loop: Int) -> [Connection] { perLoop[loop].list }

    /// Adds a WebSocket connection. Call from the connection's delegate (on its loop).
    public func add(_ c: Connection) {
        c.loop.execute { [self] in
            guard !c.isClosed, !c.groups.contains(where: { $0 === self }) else { return }
            perLoop[c.loop.index].list.append(c)
            total.add(1, ordering: .relaxed)
            c.groups.append(self)
            if let w = c.deflate?.serverMaxWindowBits {
                shared.withLock { $0.windows[w, default: 0] += 1 }
            }
        }
    }

    public func remove(_ c: Connection) {
        c.loop.execute { [self] in
            c.groups.removeAll { $0 === self }
            removeOnLoop(c)
        }
    }

    func removeOnLoop(_ c: Connection) {
        let members = perLoop[c.loop.index]
        guard let k = members.list.firstIndex(where: { $0 === c }) else { return }
        members.list.swapAt(k, members.list.count - 1)
        members.list.removeLast()
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
        for loop in loops {
            loop.enqueueBroadcast(.init(group: self, frames: frames, kind: kind))
        }
    }

    /// Number of members over all loops (never waits for a loop).
    public func count() -> Int { total.load(ordering: .relaxed) }
}
