import ClassPlan
import Foundation
import Testing
@testable import ClassEngine

private func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("classengine-tests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Drives an engine like the live layer does and records what it accepts.
private struct RecordedClass {
    var engine: ClassEngine
    let writer: RecordingWriter

    mutating func command(_ command: EngineCommand, at: Int64) throws {
        while let deadline = engine.nextDeadline, deadline <= at, let s = engine.tick(now: deadline) {
            try writer.append(RecordedEvent(at: s.at, kind: .autoAdvance, seq: s.seq, stepIndex: s.stepIndex))
        }
        let s = try #require(engine.apply(command, at: at).value)
        try writer.append(RecordedEvent(at: at, kind: .command, command: command, seq: s.seq, stepIndex: s.stepIndex))
    }
}

@Suite struct RecordingTests {
    @Test func roundTripKeepsHeaderAndEvents() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = samplePlan()
        let writer = try RecordingWriter(directory: directory, plan: plan, steps: Expansion.steps(for: plan), classCode: "AB12", startedAt: 1_000)
        #expect(writer.fileURL.lastPathComponent == "class-AB12-1000.jsonl")
        let events = [
            RecordedEvent(at: 1_000, kind: .command, command: .start, seq: 1, stepIndex: 0),
            RecordedEvent(at: 5_000, kind: .announce, text: "Line 1\nLine \"2\"", seq: 1),
            RecordedEvent(at: 9_000, kind: .command, command: .extend(seconds: 30), seq: 2, stepIndex: 0),
        ]
        for event in events { try writer.append(event) }
        // Durable before close: another reader sees every line (append fsyncs and returns).
        let midway = try RecordingReader.read(writer.fileURL)
        #expect(midway.events == events)
        try writer.close()
        let recording = try RecordingReader.read(writer.fileURL)
        #expect(recording.plan == plan && recording.classCode == "AB12" && recording.startedAt == 1_000)
        #expect(recording.events == events && recording.warnings.isEmpty)
        let text = try String(contentsOf: writer.fileURL, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 4, "one line per record")
        #expect(throws: RecordingError.self) { try writer.append(events[0]) }
    }

    @Test func truncatedLastLineIsToleratedAndReported() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try RecordingWriter(directory: directory, plan: samplePlan(), steps: Expansion.steps(for: samplePlan()), classCode: "T", startedAt: 0)
        try writer.append(RecordedEvent(at: 0, kind: .command, command: .start, seq: 1, stepIndex: 0))
        try writer.close()
        let handle = try FileHandle(forWritingTo: writer.fileURL)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"at":500,"kind":"comm"#.utf8))  // kill -9 mid-write
        try handle.close()
        let recording = try RecordingReader.read(writer.fileURL)
        #expect(recording.events.count == 1)
        #expect(recording.warnings.count == 1)
        #expect(recording.warnings.first?.contains(":3: ignored a truncated") == true)
    }

    @Test func garbageBeforeTheLastLineIsAnErrorWithItsLineNumber() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try RecordingWriter(directory: directory, plan: samplePlan(), steps: Expansion.steps(for: samplePlan()), classCode: "G", startedAt: 0)
        try writer.close()
        var text = try String(contentsOf: writer.fileURL, encoding: .utf8)
        text += "not json\n" + #"{"at":1,"kind":"command","command":{"type":"start"},"seq":1}"# + "\n"
        try text.write(to: writer.fileURL, atomically: true, encoding: .utf8)
        #expect {
            try RecordingReader.read(writer.fileURL)
        } throws: { error in
            (error as? RecordingError)?.message.contains(":2: unreadable event") == true
        }
        #expect(throws: RecordingError.self) { try RecordingReader.parse(Data("{}\n".utf8), name: "x") }
        #expect(throws: RecordingError.self) { try RecordingReader.parse(Data(), name: "x") }
    }

    @Test func writerErrorsAreThrownWithAClearMessage() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // A regular file where the directory should be: fails even for root.
        let blocker = directory.appendingPathComponent("blocker")
        try Data("x".utf8).write(to: blocker)
        #expect {
            try RecordingWriter(directory: blocker.appendingPathComponent("recordings"), plan: samplePlan(), steps: Expansion.steps(for: samplePlan()),
                                classCode: "E", startedAt: 0)
        } throws: { error in
            (error as? RecordingError)?.message.hasPrefix("cannot create recordings directory") == true
        }
        _ = try RecordingWriter(directory: directory, plan: samplePlan(), steps: Expansion.steps(for: samplePlan()), classCode: "E", startedAt: 7)
        #expect {
            try RecordingWriter(directory: directory, plan: samplePlan(), steps: Expansion.steps(for: samplePlan()), classCode: "E", startedAt: 7)
        } throws: { error in
            let message = (error as? RecordingError)?.message ?? ""
            return message.contains("class-E-7.jsonl") && message.contains("File exists")
        }
    }

    @Test func exportIsTheClassAsRun() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = samplePlan()  // brief 60s, walk x3 (rest 30s), cool 120s
        var run = RecordedClass(engine: ClassEngine(plan: plan),
                                writer: try RecordingWriter(directory: directory, plan: plan, steps: Expansion.steps(for: plan), classCode: "X", startedAt: 0))
        try run.command(.start, at: 0)
        try run.command(.extend(seconds: 30), at: 10_000)      // briefing runs 90s
        try run.command(.next, at: 130_000)                    // walk 1 took 40s (auto-advanced at 90s)
        try run.command(.pause, at: 140_000)                   // rest 1: 10s, paused 60s
        try run.command(.resume, at: 200_000)                  // rest ends at 220_000 by itself
        try run.command(.restart, at: 230_000)             // walk 2 restarted after 10s
        try run.command(.next, at: 275_000)                    // walk 2 took 45s
        try run.command(.jump(step: 6), at: 275_500)           // rest 2 and walk 3 skipped
        try run.command(.end, at: 335_500)                     // cool-down cut to 60s
        try run.writer.close()

        let recording = try RecordingReader.read(run.writer.fileURL)
        let text = PlanExport.yaml(from: recording)
        let (exported, diagnostics) = PlanLoader.parse(text, file: "export.yaml")
        #expect(diagnostics.errors.isEmpty, "\(diagnostics.map(\.formatted))")
        let segments = try #require(exported?.segments)
        #expect(segments.map(\.kind) == [.briefing, .walk, .rest, .walk, .cooldown])
        #expect(segments.map(\.title) == ["Brief", "Walk (round 1 of 3)", "Rest after round 1", "Walk (round 2 of 3)", "Cool"])
        #expect(segments.map(\.durationMs) == [90_000, nil, 30_000, nil, 60_000])
        #expect(segments.map(\.paceMs) == [nil, 40_000, nil, 45_000, nil])
        #expect(segments[1].distanceMeters == 25)
        #expect(exported?.title == plan.title)
    }

    /// Issue 15: a crashed class's export kept no trace of the step it was on, and rapid
    /// next/previous left one-second fragment segments.
    @Test func exportMarksTheInterruptedStepAndMergesFragments() throws {
        let plan = samplePlan()  // brief 60s, walk x3 (rest 30s), cool 120s
        let steps = Expansion.steps(for: plan)
        var engine = ClassEngine(plan: plan)
        var events: [RecordedEvent] = []
        func command(_ c: EngineCommand, at: Int64) throws {
            let s = try #require(engine.apply(c, at: at).value)
            events.append(RecordedEvent(at: at, kind: .command, command: c, seq: s.seq, stepIndex: s.stepIndex))
        }
        try command(.start, at: 0)
        try command(.next, at: 20_000)      // briefing 20 s, then walk 1 for 20 s
        try command(.next, at: 40_000)      // a glance at rest 1 (1 s) ...
        try command(.previous, at: 41_000)  // ... and back: walk 1 again
        try command(.next, at: 69_000)      // walk 1: 20 s + 28 s = 48 s; now rest 1
        // kill -9 here: no end, no event for the rest that is running.
        let recording = Recording(plan: plan, steps: steps, classCode: "K", startedAt: 0, events: events, warnings: [])
        let text = PlanExport.yaml(from: recording)
        let (exported, diagnostics) = PlanLoader.parse(text, file: "export.yaml")
        #expect(diagnostics.errors.isEmpty, "\(diagnostics.map(\.formatted))")
        let segments = try #require(exported?.segments)
        #expect(segments.map(\.title) == ["Brief", "Walk (round 1 of 3)", "Rest after round 1 (interrupted)"])
        #expect(segments[1].paceMs == 48_000, "the two runs of walk 1 merged (20 s + 28 s), the 1 s glance at the rest left out")
        #expect(exported?.notes?.contains("stopped without an end") == true)
    }

    @Test func exportOfAClassThatNeverRanIsThePlanAsWritten() {
        let recording = Recording(plan: samplePlan(), steps: Expansion.steps(for: samplePlan()), classCode: "N", startedAt: 0, events: [], warnings: [])
        let text = PlanExport.yaml(from: recording)
        #expect(text.contains("No step of this recording ran"))
        #expect(PlanLoader.parse(text, file: "n").plan == samplePlan())
    }
}
