// The fan-out of one broadcast group on one event loop, as a pure data structure: its
// members, the messages not yet handed to all of them, and a cursor that walks the members
// round and round. No I/O: the loop asks for a batch of (member, messages) and writes them.
//
// Why a cursor rather than "one pass per broadcast": at saturation (19,000 phones at 10
// messages/s) a pass over the members takes longer than the gap between messages. With a pass
// per broadcast, a message that arrives mid-pass waits for the pass to end and then for a
// whole pass of its own (up to two pass times to the last member). With the cursor, a message
// that arrives mid-pass goes to every member the cursor reaches from then on, together with
// anything else that member has not had (one gathered write), and is with the last member
// after exactly one trip round: the pass time, not twice it.

/// Members and undelivered messages of one group on one loop. A value owned by its loop.
struct FanoutRing<Member: AnyObject, Message> {
    private(set) var members: [Member] = []
    /// Per member (same index): the sequence number of the first message it has not had.
    private var nextSeq: [UInt64] = []
    /// Messages `firstSeq ..< head`, kept until every member has them.
    private var log: [Message] = []
    private var firstSeq: UInt64 = 0
    /// Where the walk resumes.
    private var cursor = 0
    /// How many members have `nextSeq < head` (still owed a message).
    private(set) var lagging = 0

    var head: UInt64 { firstSeq + UInt64(log.count) }
    /// Nothing owed to anyone.
    var isIdle: Bool { lagging == 0 }
    /// Messages kept (for tests and metrics).
    var backlog: Int { log.count }

    /// A new member gets the messages appended after it joined.
    mutating func add(_ member: Member) {
        members.append(member)
        nextSeq.append(head)
    }

    /// Returns false if `member` was not there.
    @discardableResult
    mutating func remove(_ member: Member) -> Bool {
        guard let k = members.firstIndex(where: { $0 === member }) else { return false }
        if nextSeq[k] < head { lagging -= 1 }
        // Swap-remove: the last member moves to `k`; if `k` is behind the cursor it is
        // visited on the next trip round, which happens because it is still counted as lagging.
        members.swapAt(k, members.count - 1)
        nextSeq.swapAt(k, nextSeq.count - 1)
        members.removeLast()
        nextSeq.removeLast()
        if members.isEmpty { dropDelivered(nil) }
        return true
    }

    /// A new message for every current member. False if there are none (nothing kept).
    @discardableResult
    mutating func append(_ message: Message) -> Bool {
        guard !members.isEmpty else { return false }
        log.append(message)
        lagging = members.count
        return true
    }

    /// Visits up to `budget` members from the cursor; each one that is owed messages is put
    /// in `batch` with the messages it has not had (oldest first) and counted as served.
    /// Messages that every member now has are dropped and passed to `delivered` (metrics).
    /// Returns the number of visits made.
    mutating func nextBatch(budget: Int, into batch: inout [(Member, ArraySlice<Message>)],
                            delivered: ((Message) -> Void)? = nil) -> Int {
        var visits = 0
        while lagging > 0 && visits < budget {
            if cursor >= members.count {
                if members.isEmpty { lagging = 0; break }
                // A trip round ended: drop what everyone has, so the log stays short even
                // when new messages keep arriving and the ring is never idle.
                cursor = 0
                dropDelivered(delivered)
                continue
            }
            let from = nextSeq[cursor]
            if from < head {
                batch.append((members[cursor], log[Int(from - firstSeq)...]))
                nextSeq[cursor] = head
                lagging -= 1
            }
            cursor += 1
            visits += 1
        }
        if lagging == 0 { dropDelivered(delivered) }
        return visits
    }

    private mutating func dropDelivered(_ delivered: ((Message) -> Void)?) {
        let oldest = nextSeq.min() ?? head
        let n = Int(oldest - firstSeq)
        guard n > 0 else { return }
        if let delivered { for m in log[..<n] { delivered(m) } }
        if n == log.count { log.removeAll(keepingCapacity: log.count <= 16) } else { log.removeFirst(n) }
        firstSeq = oldest
    }
}
