import Testing
import TestSupport
@testable import NetServer

/// The round-robin fan-out without sockets: who gets which message, when, and in what order.
@Suite struct FanoutRingTests {
    final class Phone {
        let name: Int
        var got: [Int] = []
        init(_ name: Int) { self.name = name }
    }
    typealias Ring = FanoutRing<Phone, Int>

    /// Runs the ring the way LoopFanout does: collect a batch, then hand it out.
    @discardableResult
    static func serve(_ ring: inout Ring, budget: Int, delivered: ((Int) -> Void)? = nil) -> [Phone] {
        var batch: [(Phone, ArraySlice<Int>)] = []
        _ = ring.nextBatch(budget: budget, into: &batch, delivered: delivered)
        for (p, messages) in batch { p.got.append(contentsOf: messages) }
        return batch.map(\.0)
    }

    @Test func everyMemberGetsEachMessageOnceInOrder() {
        var ring = Ring()
        let phones = (0..<10).map(Phone.init)
        for p in phones { ring.add(p) }
        ring.append(1)
        ring.append(2)
        #expect(ring.lagging == 10)
        var visited = 0
        while !ring.isIdle { visited += Self.serve(&ring, budget: 3).count }
        #expect(visited == 10, "one gathered delivery per member for both messages")
        for p in phones { #expect(p.got == [1, 2]) }
        #expect(ring.backlog == 0)
    }

    @Test func aMemberGetsOnlyWhatWasSentAfterItJoined() {
        var ring = Ring()
        let early = Phone(0), late = Phone(1)
        ring.add(early)
        ring.append(1)
        ring.add(late)
        ring.append(2)
        while !ring.isIdle { Self.serve(&ring, budget: 1) }
        #expect(early.got == [1, 2])
        #expect(late.got == [2])
    }

    /// The point of the cursor: a message arriving mid-pass rides along with the rest of the
    /// pass and reaches the last member within one trip round, not a full extra pass.
    @Test func aMessageArrivingMidPassReachesEveryoneWithinOneTrip() {
        var ring = Ring()
        let phones = (0..<8).map(Phone.init)
        for p in phones { ring.add(p) }
        ring.append(1)
        let first = Self.serve(&ring, budget: 4)
        #expect(first.map(\.name) == [0, 1, 2, 3])
        ring.append(2)
        // The rest of the pass gets both at once; then the first four get the second.
        let second = Self.serve(&ring, budget: 4)
        #expect(second.map(\.name) == [4, 5, 6, 7])
        for p in phones[4...] { #expect(p.got == [1, 2]) }
        let third = Self.serve(&ring, budget: 100)
        #expect(third.map(\.name) == [0, 1, 2, 3])
        #expect(ring.isIdle)
        for p in phones { #expect(p.got == [1, 2]) }
    }

    @Test func removingAMemberMidPassLosesNoOneElse() {
        var ring = Ring()
        let phones = (0..<6).map(Phone.init)
        for p in phones { ring.add(p) }
        ring.append(1)
        Self.serve(&ring, budget: 2)          // 0 and 1 served
        ring.remove(phones[0])                // the last member (5, unserved) moves behind the cursor
        while !ring.isIdle { Self.serve(&ring, budget: 1) }
        #expect(phones[0].got == [1])
        for p in phones[1...] { #expect(p.got == [1], "phone \(p.name)") }
        #expect(ring.members.count == 5)
        let again = ring.remove(phones[0])
        #expect(!again)
    }

    @Test func theLogStaysShortWhenMessagesNeverStop() {
        var ring = Ring()
        let phones = (0..<50).map(Phone.init)
        for p in phones { ring.add(p) }
        var done: [Int] = []
        for m in 0..<1_000 {
            ring.append(m)
            Self.serve(&ring, budget: 20, delivered: { done.append($0) })   // never idle: 2.5 messages per trip
            #expect(ring.backlog <= 4)
        }
        while !ring.isIdle { Self.serve(&ring, budget: 20, delivered: { done.append($0) }) }
        #expect(done == Array(0..<1_000), "each message reported once, in order, when everyone has it")
        for p in phones { #expect(p.got == Array(0..<1_000)) }
    }

    @Test func aRingWithoutMembersKeepsNothing() {
        var ring = Ring()
        let kept = ring.append(1)
        #expect(!kept)
        let p = Phone(0)
        ring.add(p)
        ring.append(2)
        ring.remove(p)
        #expect(ring.isIdle)
        #expect(ring.backlog == 0)
    }

    /// Random joins, leaves, messages and turns of random size against a plain model: each
    /// member ends with exactly the messages sent while it was a member, in order.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8])
    func randomSchedulesMatchTheModel(seed: UInt64) {
        var rng = SeededGenerator(state: seed)
        var ring = Ring()
        var present: [Phone] = []
        var expected: [ObjectIdentifier: [Int]] = [:]
        var everyone: [Phone] = []
        var nextMessage = 0
        for _ in 0..<3_000 {
            switch rng.next() % 10 {
            case 0, 1:
                let p = Phone(everyone.count)
                everyone.append(p); present.append(p); expected[ObjectIdentifier(p)] = []
                ring.add(p)
            case 2:
                guard !present.isEmpty else { continue }
                let p = present.remove(at: Int(rng.next() % UInt64(present.count)))
                // A member that leaves keeps what it was handed; what it was still owed it never gets.
                expected[ObjectIdentifier(p)] = nil
                let removed = ring.remove(p)
                #expect(removed)
            case 3, 4, 5:
                ring.append(nextMessage)
                for p in present { expected[ObjectIdentifier(p)]!.append(nextMessage) }
                nextMessage += 1
            default:
                Self.serve(&ring, budget: Int(rng.next() % 7) + 1)
            }
            #expect(ring.lagging <= ring.members.count)
        }
        while !ring.isIdle { Self.serve(&ring, budget: 5) }
        #expect(ring.backlog == 0)
        for p in present { #expect(p.got == expected[ObjectIdentifier(p)]!, "phone \(p.name)") }
        for p in everyone where expected[ObjectIdentifier(p)] == nil {
            // Left early: what it got is a prefix of what was sent while it was there, in order.
            #expect(p.got == p.got.sorted())
        }
    }
}
