import ClassPlan
import Testing
@testable import ClassEngine

/// A plan with every kind of time the replay scales: durations, a rest, a pace, a cue offset.
private func timedPlan() -> ClassPlan {
    ClassPlan(title: "Timed", goal: .fitness, safety: ["Clear area"], segments: [
        Segment(kind: .briefing, title: "Brief", durationMs: 60_000, cues: [Cue(atMs: 0, text: "Hi"), Cue(atMs: 30_000, text: "Half")]),
        Segment(kind: .walk, title: "Walk", durationMs: 45_000, rounds: 2, restMs: 15_000),
        Segment(kind: .walk, title: "Distance", distanceMeters: 25, paceMs: 40_000),
        Segment(kind: .cooldown, title: "Cool", durationMs: 120_000),
    ])
}

private func recording(_ events: [RecordedEvent], plan: ClassPlan = timedPlan(), startedAt: Int64 = 10_000) -> Recording {
    Recording(plan: plan, steps: Expansion.steps(for: plan), classCode: "R", startedAt: startedAt, events: events, warnings: [])
}

private let sampleEvents = [
    RecordedEvent(at: 10_000, kind: .command, command: .start, seq: 1),
    RecordedEvent(at: 70_000, kind: .autoAdvance, seq: 2),
    RecordedEvent(at: 90_000, kind: .announce, text: "hi", seq: 2),
    RecordedEvent(at: 100_000, kind: .command, command: .extend(seconds: 15), seq: 3),
    RecordedEvent(at: 105_000, kind: .announce, text: "two", seq: 3),
    RecordedEvent(at: 110_000, kind: .command, command: .next, seq: 4),
    RecordedEvent(at: 111_000, kind: .stopSignal, seq: 4, client: 7),
]

@Suite struct ReplayScriptTests {
    @Test func offsetsAtSpeedOneAreTheRecordedOnes() {
        let script = ReplayScript(recording: recording(sampleEvents))
        #expect(script.speed == 1)
        #expect(script.actions == [
            ReplayAction(offsetMs: 0, what: .command(.start)),
            ReplayAction(offsetMs: 80_000, what: .announce("hi")),
            ReplayAction(offsetMs: 90_000, what: .command(.extend(seconds: 15))),
            ReplayAction(offsetMs: 95_000, what: .announce("two")),
            ReplayAction(offsetMs: 100_000, what: .command(.next)),
        ], "auto-advances and stop signals are not replayed")
        #expect(script.durationMs == 101_000, "the recording stops at its last event")
    }

    @Test func offsetsAndExtensionsAtSpeedTwoAreHalved() {
        let script = ReplayScript(recording: recording(sampleEvents), speed: 2)
        #expect(script.actions == [
            ReplayAction(offsetMs: 0, what: .command(.start)),
            ReplayAction(offsetMs: 40_000, what: .announce("hi")),
            ReplayAction(offsetMs: 45_000, what: .command(.extend(seconds: 8))),  // 7.5 s, in whole seconds
            ReplayAction(offsetMs: 47_500, what: .announce("two")),
            ReplayAction(offsetMs: 50_000, what: .command(.next)),
        ])
        #expect(script.durationMs == 50_500)
    }

    @Test func extendSecondsScaleToAtLeastOne() {
        let events = [RecordedEvent(at: 0, kind: .command, command: .extend(seconds: 30), seq: 1)]
        func seconds(at speed: Double) -> EngineCommand? {
            guard case .command(let c) = ReplayScript(recording: recording(events, startedAt: 0), speed: speed).actions.first?.what else { return nil }
            return c
        }
        #expect(seconds(at: 1) == .extend(seconds: 30))
        #expect(seconds(at: 3) == .extend(seconds: 10))
        #expect(seconds(at: 0.5) == .extend(seconds: 60))
        #expect(seconds(at: 100) == .extend(seconds: 1))
    }

    @Test func announcementsKeepTheirOrder() {
        // A command is recorded at its effective instant (a lead after it was sent), so an
        // announcement written after it can carry an earlier instant.
        let events = [
            RecordedEvent(at: 0, kind: .command, command: .start, seq: 1),
            RecordedEvent(at: 5_300, kind: .command, command: .pause, seq: 2),
            RecordedEvent(at: 5_100, kind: .announce, text: "first", seq: 2),
            RecordedEvent(at: 5_100, kind: .announce, text: "second", seq: 2),
            RecordedEvent(at: 9_000, kind: .announce, text: "third", seq: 2),
        ]
        let script = ReplayScript(recording: recording(events, startedAt: 0), speed: 4)
        #expect(script.actions.map(\.what) == [
            .command(.start), .announce("first"), .announce("second"), .command(.pause), .announce("third"),
        ])
        #expect(script.actions.map(\.offsetMs) == [0, 1_275, 1_275, 1_325, 2_250])
    }

    @Test func speedsAreClamped() {
        let r = recording(sampleEvents)
        #expect(ReplayScript(recording: r, speed: 0).speed == 0.1)
        #expect(ReplayScript(recording: r, speed: -3).speed == 0.1)
        #expect(ReplayScript(recording: r, speed: 1_000).speed == 100)
        #expect(ReplayScript(recording: r, speed: .nan).speed == 1)
        #expect(ReplayScript(recording: r, speed: .infinity).speed == 1)
        #expect(ReplayScript(recording: r, speed: 1_000).actions.last?.offsetMs == 1_000, "100x: 100 s in 1 s")
        #expect(ReplayScript(recording: r, speed: 0).actions.last?.offsetMs == 1_000_000, "0.1x: 100 s in 1000 s")
    }

    @Test func speedOneRunsTheRecordedPlanAndStepsUnchanged() {
        var steps = Expansion.steps(for: timedPlan())
        steps[0].title = "Renamed since"  // a recording's steps are what ran, not the plan's expansion today
        var r = recording(sampleEvents)
        r.steps = steps
        let script = ReplayScript(recording: r)
        #expect(script.plan == r.plan)
        #expect(script.steps == steps)
    }

    @Test func otherSpeedsScaleThePlanAndStepsAlike() throws {
        let script = ReplayScript(recording: recording(sampleEvents), speed: 2)
        let walk = try #require(script.plan.segments.dropFirst().first)
        #expect(script.plan.segments.map(\.durationMs) == [30_000, 22_500, nil, 60_000])
        #expect(walk.restMs == 7_500)
        #expect(script.plan.segments[2].paceMs == 20_000)
        #expect(script.plan.segments[0].cues.map(\.atMs) == [0, 15_000])
        // The steps the session runs are the recorded ones scaled: the same as expanding the scaled plan.
        #expect(script.steps == Expansion.steps(for: script.plan))
        #expect(script.steps.map(\.durationMs) == [30_000, 22_500, 7_500, 22_500, nil, 60_000])
        #expect(script.steps[0].cues.map(\.atMs) == [0, 15_000])
        #expect(script.steps.map(\.title) == ReplayScript(recording: recording(sampleEvents)).steps.map(\.title))
    }

    @Test func aRunAtSpeedTwoIsTheClassInHalfTheTime() {
        let events = [
            RecordedEvent(at: 0, kind: .command, command: .start, seq: 1),
            RecordedEvent(at: 10_000, kind: .command, command: .extend(seconds: 30), seq: 2),  // brief runs 90 s
            RecordedEvent(at: 100_000, kind: .command, command: .pause, seq: 3),                // walk 1 paused 10 s in
            RecordedEvent(at: 160_000, kind: .command, command: .resume, seq: 4),
            RecordedEvent(at: 250_000, kind: .command, command: .next, seq: 5),                 // distance step
            RecordedEvent(at: 300_000, kind: .command, command: .end, seq: 6),
        ]
        let r = recording(events, startedAt: 0)
        let (normal, normalEnd) = ReplayScript(recording: r).snapshots(from: 1_000_000)
        let (fast, fastEnd) = ReplayScript(recording: r, speed: 2).snapshots(from: 1_000_000)
        #expect(normal.map(\.stepIndex) == fast.map(\.stepIndex))
        #expect(normal.map(\.status) == fast.map(\.status))
        #expect(normal.map { ($0.at - 1_000_000) / 2 } == fast.map { $0.at - 1_000_000 })
        #expect(normal.map { $0.stepEndsAt.map { ($0 - 1_000_000) / 2 } } == fast.map { $0.stepEndsAt.map { $0 - 1_000_000 } })
        #expect(normalEnd - 1_000_000 == 2 * (fastEnd - 1_000_000))
        #expect(normal.last?.status == .finished)
        #expect(normal.map(\.stepIndex).contains(4), "the distance step was reached")
    }
}
