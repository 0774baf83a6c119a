// The cluster's pure parts (the relay wire, the lease state machine, the clock estimate) and
// its Redis scripts against a real redis-server (the RedisClient tests' fixture, started per
// test on a free loopback port): leases, fences, the recording stream.
import Dispatch
import Foundation
import Testing
import NetServer
import RESPCodec
import ClassEngine
import ClassPlan
@testable import RedisClient
@testable import ClassCluster
@testable import LiveClass

@Suite struct RelayWireTests {
    @Test func uplinkRoundTrips() {
        let id = MemberID.make(node: 7, connection: 123_456)
        #expect(MemberID.node(of: id) == 7 && MemberID.connection(of: id) == 123_456)
        #expect(id < (1 << 53))   // exact in a JavaScript number
        let json = Array(#"{"type":"hello","role":"participant","name":"Ana\nBo"}"#.utf8)
        for up in [RelayUplink.join(member: id, address: "10.0.0.1"), .rejoin(member: id, address: "::1"),
                   .leave(member: id), .message(member: id, raw: json), .resync(node: 7, members: [id, id + 1]), .resync(node: 7, members: [])] {
            #expect(RelayUplink.decode(up.encoded()) == up)
        }
        #expect(RelayUplink.decode(Array("JOIN x\n".utf8)) == nil)
        #expect(RelayUplink.decode(Array("NOPE 1\n".utf8)) == nil)
        #expect(RelayUplink.decode(Array("JOIN 1".utf8)) == nil)   // no newline
    }

    @Test func envelopeRoundTrips() {
        let text = Array(#"{"type":"state","seq":3}"#.utf8) + [0x0A, 0x20]   // payload bytes kept as they are
        let all: [RelayEnvelope] = [
            .broadcast(.everyone, kind: .supersedable, text: text), .broadcast(.participants, kind: .ordinary, text: text),
            .member(1 << 40 | 5, kind: .ordinary, text: text), .role(42, .instructor), .role(42, .watcher),
            .close(42, code: 1008, reason: "too many wrong instructor tokens"), .owner(node: 3, fence: 17),
        ]
        for e in all { #expect(RelayEnvelope.decode(e.encoded()) == e) }
        #expect(RelayEnvelope.decode(Array("ALL x\n{}".utf8)) == nil)
        #expect(RelayEnvelope.decode(Array("ROLE 1 king\n".utf8)) == nil)
        #expect(RelayEnvelope.decode(Array(repeating: 0x41, count: 300) + [0x0A]) == nil)
    }

    @Test func aRelayPutsTheClassIntoAWelcome() {
        let plan = BuiltinPlans.default
        let classJSON = ServerMessage.classJSON(code: "K7QP", plan: plan, steps: Expansion.steps(for: plan))
        let announce = ServerMessage.announce(id: 1, text: #"say "class":"@class" twice"#, at: 5)
        func welcome(_ c: String) -> String {
            ServerMessage.welcome(role: .participant, clientID: 9, serverTime: 1, classJSON: c, state: "{}", presence: "{}",
                                  alerts: nil, announcements: [announce])
        }
        let small = welcome(ServerMessage.classPlaceholder)
        #expect(small.utf8.count < welcome(classJSON).utf8.count / 2)
        let completed = ServerMessage.completingWelcome(Array(small.utf8), classJSON: classJSON)
        #expect(String(decoding: completed, as: UTF8.self) == welcome(classJSON))
        #expect(ServerMessage.completingWelcome(Array("{}".utf8), classJSON: classJSON) == Array("{}".utf8))
    }

    @Test func channelNames() {
        #expect(ClusterKeys.parseChannel(ClusterKeys.inbound("K7QP"))! == ("K7QP", "in"))
        #expect(ClusterKeys.parseChannel(ClusterKeys.outbound("A-B"))! == ("A-B", "out"))
        #expect(ClusterKeys.parseChannel("other:channel") == nil)
    }
}

@Suite struct LeaseTrackerTests {
    @Test func aNodeThatDidNotRunTheClassWaitsItsGrace() {
        var t = LeaseTracker(graceChecks: 2)
        #expect(t.observed(holder: "1:4", node: 2) == .none)
        #expect(t.observed(holder: nil, node: 2) == .none)
        #expect(t.observed(holder: nil, node: 2) == .acquire)
        t.acquired(fence: 5)
        #expect(t.isOwner && t.leaseValue(node: 2) == "2:5")
        #expect(t.observed(holder: nil, node: 2) == .none)   // an owner renews, it does not observe
    }

    @Test func theLastOwnerTakesItBackFirst() {
        var t = LeaseTracker(graceChecks: 3)
        t.acquired(fence: 1)
        #expect(t.renewal(true) == .none)
        #expect(t.renewal(nil) == .none)      // Redis silent: still the owner (writes are fenced)
        #expect(t.isOwner)
        #expect(t.renewal(false) == .stepDown) // back, and the lease lapsed meanwhile
        #expect(!t.isOwner && t.ranLast)
        #expect(t.observed(holder: nil, node: 1) == .acquire)   // no grace for the last owner
    }

    @Test func anotherOwnerEndsThePreference() {
        var t = LeaseTracker(graceChecks: 2)
        t.acquired(fence: 1)
        #expect(t.fenced() == .stepDown)
        #expect(!t.ranLast)
        var u = LeaseTracker(graceChecks: 2)
        u.acquired(fence: 1)
        _ = u.renewal(false)
        #expect(u.observed(holder: "3:2", node: 1) == .none)
        #expect(!u.ranLast)
        #expect(u.observed(holder: nil, node: 1) == .none)
        #expect(u.observed(holder: nil, node: 1) == .acquire)
    }

    @Test func clockOffsetFromTheQuickestProbe() {
        let samples = [
            ClockSample(sentMicros: 1_000, serverMicros: 60_000, receivedMicros: 21_000),   // rtt 20 ms
            ClockSample(sentMicros: 30_000, serverMicros: 80_500, receivedMicros: 31_000),  // rtt 1 ms: offset +50 ms
        ]
        let best = ClockSample.best(samples)!
        #expect(best.roundTripMicros == 1_000 && best.offsetMicros == 50_000)
        #expect(ClockSample.best([]) == nil)
    }
}

private let needsRedis = Testing.ConditionTrait.enabled(if: RedisServerProcess.isInstalled, Comment(rawValue: RedisServerProcess.notInstalled))

/// A store on a standalone loop against `url`, closed at the end.
private final class StoreHarness: @unchecked Sendable {
    let loop = EventLoop.standalone()
    let replies = DispatchQueue(label: "cluster-test.replies")
    let up = Locked(false)
    let store: RedisStore

    init(_ url: String, timeoutMs: Int = 2_000) throws {
        let up = self.up
        let c = RedisConnection(configuration: try testConfiguration(url), loop: loop, callbackQueue: replies) { e in
            up.withLock { $0 = (e == .connected) }
        }
        store = RedisStore(connection: c, up: up, timeoutMs: timeoutMs)
        c.start()
    }

    deinit {
        store.connection.close()
        loop.queue.sync {}
        loop.stopStandalone()
    }
}

@Suite(.timeLimit(.minutes(1))) struct ClusterRedisTests {
    @Test(needsRedis) func leasesAndFences() async throws {
        let server = try RedisServerProcess()
        let h = try StoreHarness(server.url)
        #expect(await eventually { h.store.isUp })
        let lease = ClusterKeys.lease("C1"), fence = ClusterKeys.fence("C1")
        func acquire(_ node: Int, ttl: Int = 300) -> Int64? { try? h.store.eval(ClusterScripts.acquire, keys: [lease, fence], [String(node), String(ttl)]).get().int }
        func renew(_ value: String, fence f: Int = 1) -> Int64? { try? h.store.eval(ClusterScripts.renew, keys: [lease, fence], [value, "300", String(f)]).get().int }

        #expect(acquire(1) == 1)
        #expect(acquire(2) == 0)            // held: refused, and the fence did not move
        #expect(renew("1:1") == 1)
        #expect(renew("2:1") == 0)
        try await Task.sleep(nanoseconds: 450_000_000)   // lapses, nobody takes it: its owner takes it back
        #expect(renew("1:1") == 2)
        #expect(renew("1:1") == 1)
        try await Task.sleep(nanoseconds: 450_000_000)
        #expect(acquire(2) == 2)            // every takeover a higher fence
        #expect(renew("1:1") == 0)          // then the old owner's lease is gone for good
        #expect(try h.store.eval(ClusterScripts.release, keys: [lease], ["1:1"]).get().int == 0)   // not node 1's to release
        #expect(try h.store.eval(ClusterScripts.release, keys: [lease], ["2:2"]).get().int == 1)
        #expect(acquire(3) == 3)
    }

    @Test(needsRedis) func aStaleOwnersWritesAreRefused() async throws {
        let server = try RedisServerProcess()
        let h = try StoreHarness(server.url)
        #expect(await eventually { h.store.isUp })
        let plan = BuiltinPlans.default
        let steps = Expansion.steps(for: plan)
        let header = RecordingHeader(format: RecordingHeader.currentFormat, classCode: "C2", startedAt: 1_000, plan: plan,
                                     steps: steps, instructorTokenHash: nil)
        _ = try h.store.eval(ClusterScripts.acquire, keys: [ClusterKeys.lease("C2"), ClusterKeys.fence("C2")], ["1", "10000"]).get()
        _ = try h.store.eval(ClusterScripts.append, keys: [ClusterKeys.recording("C2"), ClusterKeys.fence("C2")], ["1", try RedisRecording.line(header)]).get()
        let fencedCalls = Locked(0)
        let old = RedisStreamSink(store: h.store, code: "C2", fence: 1, location: "test",
                                  onFenced: { fencedCalls.withLock { $0 += 1 } }, onUncertain: {})
        try old.append(RecordedEvent(at: 2_000, kind: .command, command: .start, seq: 1, stepIndex: 0))

        // Another node takes over (fence 2): the old owner's next write is refused.
        _ = try h.store.call(["DEL", ClusterKeys.lease("C2")]).get()
        _ = try h.store.eval(ClusterScripts.acquire, keys: [ClusterKeys.lease("C2"), ClusterKeys.fence("C2")], ["2", "10000"]).get()
        #expect(throws: RecordingSuperseded.self) { try old.append(RecordedEvent(at: 3_000, kind: .command, command: .next, seq: 2, stepIndex: 1)) }
        #expect(fencedCalls.withLock { $0 } == 1)
        let new = RedisStreamSink(store: h.store, code: "C2", fence: 2, location: "test", onFenced: {}, onUncertain: {})
        try new.append(RecordedEvent(at: 3_100, kind: .command, command: .pause, seq: 2, stepIndex: 0))

        // The stream reads as a recording file would: header, then the events that were accepted.
        let rec = try RedisRecording.read(h.store, code: "C2", name: "test")
        #expect(rec.classCode == "C2" && rec.steps == steps)
        #expect(rec.events.map(\.command) == [.start, .pause])
        let resumed = Resume.rebuild(rec, now: 3_200)
        #expect(resumed.engine.snapshot.status == .paused)

        // Run again: the old run keeps its own key, the class's stream starts over.
        let again = try new.newRun(plan: plan, steps: steps, classCode: "C2", startedAt: 9_000, instructorTokenHash: nil)
        #expect(try RedisRecording.read(h.store, code: "C2", name: "test").events.isEmpty)
        #expect(again === new)
    }

    /// A write that goes out and gets no answer may have been stored: the sink says so once
    /// (the node then reloads the class from its stream) and writes nothing more on top.
    @Test func aWriteThatGetsNoAnswerStopsTheSink() async throws {
        let (fd, port) = try listeningSocket()   // accepts (the backlog) and never answers
        defer { close(fd) }
        let h = try StoreHarness("redis://127.0.0.1:\(port)", timeoutMs: 300)
        #expect(await eventually { h.store.isUp })
        let uncertain = Locked(0)
        let sink = RedisStreamSink(store: h.store, code: "C3", fence: 1, location: "test",
                                   onFenced: { Issue.record("not a fence refusal") }, onUncertain: { uncertain.withLock { $0 += 1 } })
        let first = #expect(throws: RecordingError.self) {
            try sink.append(RecordedEvent(at: 1_000, kind: .command, command: .start, seq: 1, stepIndex: 0))
        }
        #expect(first?.message.contains("may have been stored") == true, "\(String(describing: first))")
        #expect(uncertain.withLock { $0 } == 1)
        let second = #expect(throws: RecordingError.self) {
            try sink.append(RecordedEvent(at: 2_000, kind: .command, command: .next, seq: 1, stepIndex: 1))
        }
        #expect(second?.message.contains("being reloaded from its recording") == true, "\(String(describing: second))")
        #expect(throws: RecordingError.self) {
            _ = try sink.newRun(plan: BuiltinPlans.default, steps: [], classCode: "C3", startedAt: 3_000, instructorTokenHash: nil)
        }
        #expect(uncertain.withLock { $0 } == 1)
    }
}
