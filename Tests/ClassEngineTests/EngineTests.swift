import Foundation
import ClassPlan
import Testing
@testable import ClassEngine

/// briefing 60s, walk 25m x3 with 30s rest, cooldown 120s -> 7 steps.
func samplePlan() -> ClassPlan {
    ClassPlan(title: "Sample", goal: .fitness, safety: ["Clear area"], segments: [
        Segment(kind: .briefing, title: "Brief", durationMs: 60_000, cues: [Cue(atMs: 0, text: "Hi")]),
        Segment(kind: .walk, title: "Walk", distanceMeters: 25, rounds: 3, restMs: 30_000),
        Segment(kind: .cooldown, title: "Cool", durationMs: 120_000),
    ])
}

func ok(_ result: Result<Snapshot, EngineError>, sourceLocation: SourceLocation = #_sourceLocation) throws -> Snapshot {
    try #require(result.value, sourceLocation: sourceLocation)
}

func some(_ snapshot: Snapshot?, sourceLocation: SourceLocation = #_sourceLocation) throws -> Snapshot {
    try #require(snapshot, sourceLocation: sourceLocation)
}

extension Result {
    var value: Success? { if case .success(let v) = self { return v } else { return nil } }
    var failure: Failure? { if case .failure(let e) = self { return e } else { return nil } }
}

@Suite struct ExpansionTests {
    @Test func roundsExpandWithRestsBetweenNotAfter() {
        let steps = Expansion.steps(for: samplePlan())
        #expect(steps.map(\.kind) == [.briefing, .walk, .rest, .walk, .rest, .walk, .cooldown])
        #expect(steps.map(\.index) == Array(0..<7))
        #expect(steps.map(\.round) == [1, 1, 1, 2, 2, 3, 1])
        #expect(steps.filter(\.isRestBetweenRounds).map(\.durationMs) == [30_000, 30_000])
        #expect(steps[1].durationMs == nil && steps[1].distanceMeters == 25)
        #expect(steps[3].segmentIndex == 1 && steps[3].rounds == 3)
    }

    @Test func roundsWithoutRestAreBackToBack() {
        let plan = ClassPlan(title: "x", segments: [Segment(kind: .jog, title: "J", durationMs: 10_000, rounds: 4)])
        #expect(Expansion.steps(for: plan).map(\.kind) == [.jog, .jog, .jog, .jog])
    }
}

@Suite struct EngineTests {
    @Test func startRunsStepZeroAndSeqCountsChanges() throws {
        var engine = ClassEngine(plan: samplePlan())
        #expect(engine.snapshot.status == .idle && engine.snapshot.seq == 0)
        #expect(engine.snapshot.next?.title == "Brief")
        let s = try ok(engine.apply(.start, at: 1_000))
        #expect(s.status == .running && s.stepIndex == 0 && s.seq == 1)
        #expect(s.stepStartedAt == 1_000 && s.stepEndsAt == 61_000 && s.classStartedAt == 1_000)
        #expect(s.current?.title == "Brief" && s.next?.title == "Walk")
        #expect(engine.nextDeadline == 61_000)
    }

    @Test func everyCommandInIdleState() {
        for command in [EngineCommand.pause, .resume, .next, .previous, .restart, .extend(seconds: 10)] {
            var engine = ClassEngine(plan: samplePlan())
            let error = engine.apply(command, at: 5).failure
            #expect(error?.message == "the class has not started yet", "\(command)")
            #expect(engine.snapshot.seq == 0)
        }
        var jumped = ClassEngine(plan: samplePlan())
        #expect(jumped.apply(.jump(step: 3), at: 10).value?.stepIndex == 3)
        #expect(jumped.snapshot.classStartedAt == 10)
        var ended = ClassEngine(plan: samplePlan())
        #expect(ended.apply(.end, at: 10).value?.status == .finished)
    }

    @Test func everyCommandInFinishedStateFailsAndChangesNothing() throws {
        var engine = ClassEngine(plan: samplePlan())
        _ = engine.apply(.start, at: 0)
        _ = engine.apply(.end, at: 100)
        let before = engine.snapshot
        #expect(before.status == .finished && before.finishedAt == 100)
        for command in [EngineCommand.start, .pause, .resume, .next, .previous, .restart,
                        .extend(seconds: 5), .jump(step: 0), .end] {
            #expect(engine.apply(command, at: 200).failure != nil, "\(command)")
            #expect(engine.snapshot == before)
        }
        #expect(engine.apply(.end, at: 300).failure?.message == "the class has already finished")
    }

    @Test func runningAndPausedStateErrors() {
        var engine = ClassEngine(plan: samplePlan())
        _ = engine.apply(.start, at: 0)
        #expect(engine.apply(.start, at: 1).failure?.message == "the class is already running")
        #expect(engine.apply(.resume, at: 1).failure?.message == "the class is not paused")
        _ = engine.apply(.pause, at: 2)
        #expect(engine.apply(.pause, at: 3).failure?.message == "the class is already paused")
        #expect(engine.apply(.jump(step: 7), at: 3).failure?.message == "there is no step 7; steps are 0 to 6")
        #expect(engine.apply(.jump(step: -1), at: 3).failure != nil)
        #expect(engine.snapshot.seq == 2)
    }

    @Test func pauseFreezesElapsedAndResumeShiftsTheStep() throws {
        var engine = ClassEngine(plan: samplePlan())
        _ = engine.apply(.start, at: 0)
        let paused = try ok(engine.apply(.pause, at: 20_000))
        #expect(paused.status == .paused && paused.pausedAt == 20_000)
        #expect(paused.elapsedMs(at: 50_000) == 20_000)
        #expect(paused.remainingMs(at: 50_000) == 40_000)
        #expect(engine.nextDeadline == nil)
        #expect(engine.tick(now: 100_000) == nil, "paused steps do not end")
        let resumed = try ok(engine.apply(.resume, at: 110_000))
        #expect(resumed.stepStartedAt == 90_000 && resumed.stepEndsAt == 150_000 && resumed.pausedAt == nil)
        #expect(resumed.elapsedMs(at: 110_000) == 20_000)
        #expect(engine.tick(now: 149_999) == nil)
        #expect(engine.tick(now: 150_000)?.stepIndex == 1)
    }

    @Test func distanceStepsWaitForNext() throws {
        var engine = ClassEngine(plan: samplePlan())
        _ = engine.apply(.start, at: 0)
        let walk = try some(engine.tick(now: 60_000))
        #expect(walk.stepIndex == 1 && walk.stepEndsAt == nil && walk.stepStartedAt == 60_000)
        #expect(engine.nextDeadline == nil)
        #expect(engine.tick(now: 10_000_000) == nil)
        #expect(engine.apply(.extend(seconds: 30), at: 70_000).failure?.message
                == "step 2 'Walk' is a distance step with no clock; use next to move on")
        let rest = try ok(engine.apply(.next, at: 95_000))
        #expect(rest.stepIndex == 2 && rest.current?.isRestBetweenRounds == true && rest.stepEndsAt == 125_000)
    }

    @Test func autoAdvanceAfterAStallStartsEachStepAtThePreviousEnd() throws {
        let plan = ClassPlan(title: "t", segments: [
            Segment(kind: .walk, title: "A", durationMs: 10_000, rounds: 3, restMs: 5_000),
            Segment(kind: .cooldown, title: "C", durationMs: 20_000),
        ])
        var engine = ClassEngine(plan: plan)
        _ = engine.apply(.start, at: 1_000)
        // A, rest, A, rest, A, C: A ends 11_000, rest 16_000, A 26_000, rest 31_000, A 41_000, C ends 61_000
        let s = try some(engine.tick(now: 45_000))
        #expect(s.stepIndex == 5 && s.stepStartedAt == 41_000 && s.stepEndsAt == 61_000)
        #expect(s.seq == 1 + 5, "one seq per auto-advance")
        #expect(s.at == 41_000)
        let done = try some(engine.tick(now: 1_000_000))
        #expect(done.status == .finished && done.finishedAt == 61_000 && done.seq == 7)
    }

    @Test func extendPushesTheEndAndRejectsAbsurdValues() throws {
        var engine = ClassEngine(plan: samplePlan())
        _ = engine.apply(.start, at: 0)
        #expect(engine.apply(.extend(seconds: 30), at: 10_000).value?.stepEndsAt == 90_000)
        #expect(engine.apply(.extend(seconds: 0), at: 10_000).failure?.message == "extend by 1 to 3600 seconds, not 0")
        #expect(engine.apply(.extend(seconds: -5), at: 10_000).failure != nil)
        #expect(engine.apply(.extend(seconds: 3601), at: 10_000).failure != nil)
        #expect(engine.tick(now: 89_999) == nil)
        #expect(engine.tick(now: 90_000)?.stepIndex == 1)
    }

    @Test func nextPreviousRestartJumpAndEnd() throws {
        var engine = ClassEngine(plan: samplePlan())
        _ = engine.apply(.start, at: 0)
        let run0 = engine.snapshot.stepRun
        let restarted = try ok(engine.apply(.previous, at: 5_000))
        #expect(restarted.stepIndex == 0 && restarted.stepStartedAt == 5_000 && restarted.stepRun == run0 + 1)
        #expect(engine.apply(.restart, at: 6_000).value?.stepEndsAt == 66_000)
        #expect(engine.apply(.jump(step: 6), at: 7_000).value?.current?.kind == .cooldown)
        #expect(engine.apply(.previous, at: 8_000).value?.stepIndex == 5)
        #expect(engine.apply(.next, at: 9_000).value?.stepIndex == 6)
        let finished = try ok(engine.apply(.next, at: 10_000))
        #expect(finished.status == .finished && finished.finishedAt == 10_000 && finished.current == nil)
    }

    @Test func stepChangesWhilePausedStayPaused() throws {
        var engine = ClassEngine(plan: samplePlan())
        _ = engine.apply(.start, at: 0)
        _ = engine.apply(.pause, at: 1_000)
        let s = try ok(engine.apply(.next, at: 2_000))
        #expect(s.status == .paused && s.stepIndex == 1 && s.pausedAt == 2_000 && s.elapsedMs(at: 9_000) == 0)
        #expect(engine.apply(.end, at: 3_000).value?.status == .finished)
    }

    @Test func commandsEarlierThanTheLastChangeAreClamped() throws {
        var engine = ClassEngine(plan: samplePlan())
        _ = engine.apply(.start, at: 10_000)
        let paused = try ok(engine.apply(.pause, at: 5_000))
        #expect(paused.pausedAt == 10_000 && paused.at == 10_000)
        let resumed = try ok(engine.apply(.resume, at: 9_000))
        #expect(resumed.stepStartedAt == 10_000, "no negative pause span")
    }

    @Test func commandsCatchUpDueStepsFirst() throws {
        var engine = ClassEngine(plan: samplePlan())
        _ = engine.apply(.start, at: 0)
        // The briefing ended at 60_000 without a tick; `next` at 70_000 applies to the walk.
        let s = try ok(engine.apply(.next, at: 70_000))
        #expect(s.stepIndex == 2 && s.seq == 3)
        // A failing command after catch-up leaves the state as it was.
        var other = ClassEngine(plan: samplePlan())
        _ = other.apply(.start, at: 0)
        #expect(other.apply(.resume, at: 70_000).failure != nil)
        #expect(other.snapshot.stepIndex == 0 && other.snapshot.seq == 1)
    }

    @Test func lateJoinerSeesTheSameScreenAtManyInstants() throws {
        var engine = ClassEngine(plan: samplePlan())
        _ = engine.apply(.start, at: 0)
        _ = engine.apply(.pause, at: 30_000)
        _ = engine.apply(.resume, at: 40_000)
        // Phones compute elapsed/remaining from the last snapshot alone.
        let expectations: [(now: Int64, step: Int, elapsed: Int64, remaining: Int64?)] = [
            (40_000, 0, 30_000, 30_000), (55_000, 0, 45_000, 15_000), (69_999, 0, 59_999, 1),
            (70_000, 1, 0, nil), (90_000, 1, 20_000, nil),
        ]
        for case let (now, step, elapsed, remaining) in expectations {
            _ = engine.tick(now: now)
            let s = engine.snapshot
            #expect(s.stepIndex == step, "at \(now)")
            #expect(s.elapsedMs(at: now) == elapsed, "at \(now)")
            #expect(s.remainingMs(at: now) == remaining, "at \(now)")
        }
    }

    @Test func commandsRoundTripThroughJSON() throws {
        let commands: [EngineCommand] = [.start, .pause, .resume, .next, .previous, .restart,
                                         .extend(seconds: 30), .jump(step: 4), .end]
        for command in commands {
            let data = try JSONEncoder().encode(command)
            #expect(try JSONDecoder().decode(EngineCommand.self, from: data) == command)
        }
        #expect(String(decoding: try JSONEncoder().encode(EngineCommand.extend(seconds: 30)), as: UTF8.self)
                .contains("\"type\":\"extend\""))
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(EngineCommand.self, from: Data(#"{"type":"fly"}"#.utf8))
        }
    }
}
