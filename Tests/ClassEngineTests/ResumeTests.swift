// Rebuilding a class from its recording after a crash (Resume): the state in server time, as
// if the server had never stopped.
import ClassPlan
import Testing
@testable import ClassEngine

private let plan = ClassPlan(title: "R", segments: [
    Segment(kind: .walk, title: "A", durationMs: 10_000),
    Segment(kind: .walk, title: "B", durationMs: 20_000),
    Segment(kind: .jog, title: "C", distanceMeters: 20),
    Segment(kind: .cooldown, title: "D", durationMs: 5_000),
])

private func recording(_ events: [RecordedEvent]) -> Recording {
    Recording(plan: plan, steps: Expansion.steps(for: plan), classCode: "R", startedAt: 0, events: events, warnings: [])
}

@Suite struct ResumeTests {
    @Test func timedStepsThatEndedDuringTheDowntimeHaveAdvanced() {
        let rec = recording([RecordedEvent(at: 1_000, kind: .command, command: .start, seq: 1, stepIndex: 0)])
        let r = Resume.rebuild(rec, now: 40_000)
        // A ends at 11 000, B at 31 000; C is a distance step and waits.
        #expect(r.missedAdvances.map(\.stepIndex) == [1, 2])
        #expect(r.missedAdvances.map(\.at) == [11_000, 31_000])
        #expect(r.engine.snapshot.stepIndex == 2)
        #expect(r.engine.snapshot.stepStartedAt == 31_000)
        #expect(r.engine.snapshot.status == .running)
    }

    @Test func pausesAndExtensionsAreReplayedAtTheirInstants() {
        let rec = recording([
            RecordedEvent(at: 1_000, kind: .command, command: .start, seq: 1, stepIndex: 0),
            RecordedEvent(at: 3_000, kind: .command, command: .pause, seq: 2, stepIndex: 0),
            RecordedEvent(at: 8_000, kind: .command, command: .resume, seq: 3, stepIndex: 0),
            RecordedEvent(at: 9_000, kind: .command, command: .extend(seconds: 30), seq: 4, stepIndex: 0),
        ])
        let r = Resume.rebuild(rec, now: 20_000)
        #expect(r.missedAdvances.isEmpty)
        #expect(r.engine.snapshot.stepIndex == 0)
        #expect(r.engine.snapshot.stepEndsAt == Int64(1_000 + 5_000 + 10_000 + 30_000))
        // Paused classes stay paused however long the server was down.
        let paused = recording(Array(rec.events.prefix(2)))
        let p = Resume.rebuild(paused, now: 999_000)
        #expect(p.engine.snapshot.status == .paused)
        #expect(p.missedAdvances.isEmpty)
    }

    @Test func finishedClassesAreRecognised() {
        #expect(!Resume.isFinished(recording([])))
        #expect(!Resume.isFinished(recording([RecordedEvent(at: 1, kind: .command, command: .start, seq: 1, stepIndex: 0)])))
        #expect(Resume.isFinished(recording([
            RecordedEvent(at: 1, kind: .command, command: .start, seq: 1, stepIndex: 0),
            RecordedEvent(at: 2, kind: .command, command: .end, seq: 2),
        ])))
        #expect(Resume.isFinished(recording([RecordedEvent(at: 1, kind: .finished, seq: 0)])))
    }

    @Test func openStopSignalsComeBack() {
        let rec = recording([
            RecordedEvent(at: 1, kind: .stopSignal, seq: 0, client: 4, name: "Ana"),
            RecordedEvent(at: 2, kind: .stopSignal, seq: 0, client: 5),
            RecordedEvent(at: 3, kind: .stopAcknowledged, seq: 0, client: 4, name: "Ana"),
            RecordedEvent(at: 4, kind: .stopSignal, seq: 0, client: 6, name: "Bo"),
            RecordedEvent(at: 5, kind: .stopWithdrawn, seq: 0, client: 6, name: "Bo"),
        ])
        #expect(Resume.rebuild(rec, now: 10).openStopSignals.map(\.client) == [5])
    }
}
