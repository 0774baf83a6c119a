// The broadcast path of one event loop: joins, leaves and messages for the loop's groups
// arrive from any thread in one ordered list; the loop applies them and then walks the
// members of every group with messages owed, a slice of members per turn (so reads and other
// work on the loop get a turn between slices), each member getting everything it has not had
// in one gathered write ("corking": a backlog costs one system call per phone, not one per message).
import Dispatch

/// `pending` is guarded by its lock; everything else is owned by `loop.queue`.
final class LoopFanout: @unchecked Sendable {
    enum Operation {
        case add(BroadcastGroup, Connection)
        case remove(BroadcastGroup, Connection)
        case broadcast(BroadcastGroup, QueuedBroadcast)
    }

    /// Member visits per turn on the queue (a few ms of writes at most).
    static let visitsPerTurn = 512

    private unowned let loop: EventLoop
    /// `scheduled`: a turn is queued or running; it reschedules itself while work remains.
    private let pending = Locked<(operations: [Operation], scheduled: Bool)>(([], false))
    /// Groups with messages owed to members on this loop, served in turn.
    private var active: [LoopMembers] = []
    private var batch: [(Connection, ArraySlice<QueuedBroadcast>)] = []

    init(loop: EventLoop) { self.loop = loop }

    /// Any thread.
    func submit(_ operation: Operation) {
        let schedule = pending.withLock { state -> Bool in
            state.operations.append(operation)
            if state.scheduled { return false }
            state.scheduled = true
            return true
        }
        if schedule { loop.queue.async { self.turn() } }
    }

    private func turn() {
        let operations = pending.withLock { state -> [Operation] in
            let ops = state.operations
            state.operations = []
            return ops
        }
        for op in operations { apply(op) }

        // Serve every active group, each with its share of the turn.
        let share = max(64, Self.visitsPerTurn / max(active.count, 1))
        var i = 0
        while i < active.count {
            let members = active[i]
            _ = members.ring.nextBatch(budget: share, into: &batch, delivered: record)
            if members.ring.isIdle {
                members.isActive = false
                active.swapAt(i, active.count - 1)
                active.removeLast()
            } else {
                i += 1
            }
        }
        // Writing may tear a connection down, which removes it from its rings: done after
        // the rings are left alone.
        for (c, messages) in batch { c.deliver(messages) }
        batch.removeAll(keepingCapacity: batch.count <= 4 * Self.visitsPerTurn)

        let again = pending.withLock { state -> Bool in
            if state.operations.isEmpty && active.isEmpty {
                state.scheduled = false
                return false
            }
            return true
        }
        if again { loop.queue.async { self.turn() } }
    }

    private func apply(_ op: Operation) {
        switch op {
        case .add(let group, let c):
            group.addOnLoop(c)
        case .remove(let group, let c):
            group.removeOnLoop(c)
        case .broadcast(let group, let message):
            let members = group.members(on: loop.index)
            guard members.ring.append(message) else { record(message); return }
            if !members.isActive {
                members.isActive = true
                active.append(members)
            }
        }
    }

    /// A message every member on this loop has had: how long that took since `broadcast`.
    private func record(_ message: QueuedBroadcast) {
        let us = Int((DispatchTime.now().uptimeNanoseconds &- message.enqueuedAt) / 1000)
        loop.stats.broadcastRuns += 1
        loop.stats.broadcastMicrosTotal += us
        loop.stats.broadcastMicrosMax = max(loop.stats.broadcastMicrosMax, us)
    }
}
