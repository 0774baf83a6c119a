// The recording format is versioned explicitly: what a recording holds (header, events, the
// steps, the plan) is pinned here per version. Changing any of those shapes makes
// `recordedShapeIsPinnedToTheFormatVersion` fail until RecordingHeader.currentFormat is bumped and
// the new shape is added below; older formats keep being read (`formatOneStillReplays`).
import ClassPlan
import Foundation
import Testing
@testable import ClassEngine

/// A plan with every field set, so no field can change unnoticed.
private let everyFieldPlan = ClassPlan(
    title: "Shape", goal: .fitness, notes: "n", safety: ["s"], level: .beginner, advanceWhenDone: 0.5,
    announcements: ["Water break"], calls: TimerCalls(halfway: false),
    segments: [
        Segment(id: "t", kind: .treadmill, title: "Belt", durationMs: 60_000, rounds: 2, restMs: 30_000,
                speed: Speed(text: "1.8 mph", kmh: 2.896819), inclinePercent: 6, cues: [Cue(atMs: 0, text: "Hold the rails")]),
        Segment(kind: .jog, title: "Jog", distanceMeters: 20, paceMs: 15_000),
    ])

private func shapeLines() throws -> String {
    let steps = Expansion.steps(for: everyFieldPlan)
    let header = RecordingHeader(format: RecordingHeader.currentFormat, classCode: "SHAPE", startedAt: 1,
                                 plan: everyFieldPlan, steps: steps, instructorTokenHash: "pbkdf2-sha256$1$c2FsdA$aGFzaA")
    let events = [
        RecordedEvent(at: 2, kind: .command, command: .extend(seconds: 30), seq: 1, stepIndex: 0),
        RecordedEvent(at: 3, kind: .announce, text: "Water", seq: 1),
        RecordedEvent(at: 4, kind: .stopSignal, seq: 1, stepIndex: 0, client: 7, name: "Ana"),
        RecordedEvent(at: 5, kind: .suspended, seq: 1),
    ]
    var out = Data(try RecordingWriter.encodeLine(header))
    for e in events { out.append(try RecordingWriter.encodeLine(e)) }
    return String(decoding: out, as: UTF8.self)
}

/// The shape of each format this version writes. Add the new one when you bump the version.
private let pinnedShapes: [String: String] = [
    "classctl-recording/4": #"""
{"classCode":"SHAPE","format":"classctl-recording/4","instructorTokenHash":"pbkdf2-sha256$1$c2FsdA$aGFzaA","plan":{"advanceWhenDone":0.5,"announcements":["Water break"],"calls":{"halfway":false,"lastTen":true,"leadIn":true},"goal":"fitness","level":"beginner","notes":"n","safety":["s"],"segments":[{"cues":[{"atMs":0,"text":"Hold the rails"}],"durationMs":60000,"id":"t","inclinePercent":6,"kind":"treadmill","restMs":30000,"rounds":2,"speed":{"kmh":2.896819,"text":"1.8 mph"},"title":"Belt"},{"cues":[],"distanceMeters":20,"kind":"jog","paceMs":15000,"rounds":1,"title":"Jog"}],"title":"Shape"},"startedAt":1,"steps":[{"cues":[{"atMs":0,"text":"Hold the rails"}],"distanceMeters":null,"durationMs":60000,"incline":"6%","index":0,"isRest":false,"kind":"treadmill","round":1,"rounds":2,"segment":0,"speed":"1.8 mph","title":"Belt"},{"cues":[],"distanceMeters":null,"durationMs":30000,"incline":null,"index":1,"isRest":true,"kind":"rest","round":1,"rounds":2,"segment":0,"speed":null,"title":"Rest"},{"cues":[{"atMs":0,"text":"Hold the rails"}],"distanceMeters":null,"durationMs":60000,"incline":"6%","index":2,"isRest":false,"kind":"treadmill","round":2,"rounds":2,"segment":0,"speed":"1.8 mph","title":"Belt"},{"cues":[],"distanceMeters":20,"durationMs":null,"incline":null,"index":3,"isRest":false,"kind":"jog","round":1,"rounds":1,"segment":1,"speed":null,"title":"Jog"}]}
{"at":2,"command":{"seconds":30,"type":"extend"},"kind":"command","seq":1,"stepIndex":0}
{"at":3,"kind":"announce","seq":1,"text":"Water"}
{"at":4,"client":7,"kind":"stop-signal","name":"Ana","seq":1,"stepIndex":0}
{"at":5,"kind":"suspended","seq":1}

"""#,
]

/// Format 3 as written (a token hash; no announcements or calls in the plan).
private let formatThreeRecording = #"""
{"classCode":"SHAPE","format":"classctl-recording/3","instructorTokenHash":"pbkdf2-sha256$1$c2FsdA$aGFzaA","plan":{"advanceWhenDone":0.5,"goal":"fitness","level":"beginner","notes":"n","safety":["s"],"segments":[{"cues":[{"atMs":0,"text":"Hold the rails"}],"durationMs":60000,"id":"t","inclinePercent":6,"kind":"treadmill","restMs":30000,"rounds":2,"speed":{"kmh":2.896819,"text":"1.8 mph"},"title":"Belt"},{"cues":[],"distanceMeters":20,"kind":"jog","paceMs":15000,"rounds":1,"title":"Jog"}],"title":"Shape"},"startedAt":1,"steps":[{"cues":[{"atMs":0,"text":"Hold the rails"}],"distanceMeters":null,"durationMs":60000,"incline":"6%","index":0,"isRest":false,"kind":"treadmill","round":1,"rounds":2,"segment":0,"speed":"1.8 mph","title":"Belt"},{"cues":[],"distanceMeters":null,"durationMs":30000,"incline":null,"index":1,"isRest":true,"kind":"rest","round":1,"rounds":2,"segment":0,"speed":null,"title":"Rest"},{"cues":[{"atMs":0,"text":"Hold the rails"}],"distanceMeters":null,"durationMs":60000,"incline":"6%","index":2,"isRest":false,"kind":"treadmill","round":2,"rounds":2,"segment":0,"speed":"1.8 mph","title":"Belt"},{"cues":[],"distanceMeters":20,"durationMs":null,"incline":null,"index":3,"isRest":false,"kind":"jog","round":1,"rounds":1,"segment":1,"speed":null,"title":"Jog"}]}
{"at":2,"command":{"seconds":30,"type":"extend"},"kind":"command","seq":1,"stepIndex":0}
{"at":3,"kind":"announce","seq":1,"text":"Water"}
{"at":4,"client":7,"kind":"stop-signal","name":"Ana","seq":1,"stepIndex":0}
{"at":5,"kind":"suspended","seq":1}

"""#

/// Format 2 as written (steps, stop signals; no token hash).
private let formatTwoRecording = #"""
{"classCode":"SHAPE","format":"classctl-recording/2","plan":{"advanceWhenDone":0.5,"goal":"fitness","level":"beginner","notes":"n","safety":["s"],"segments":[{"cues":[{"atMs":0,"text":"Hold the rails"}],"durationMs":60000,"id":"t","inclinePercent":6,"kind":"treadmill","restMs":30000,"rounds":2,"speed":{"kmh":2.896819,"text":"1.8 mph"},"title":"Belt"},{"cues":[],"distanceMeters":20,"kind":"jog","paceMs":15000,"rounds":1,"title":"Jog"}],"title":"Shape"},"startedAt":1,"steps":[{"cues":[{"atMs":0,"text":"Hold the rails"}],"distanceMeters":null,"durationMs":60000,"incline":"6%","index":0,"isRest":false,"kind":"treadmill","round":1,"rounds":2,"segment":0,"speed":"1.8 mph","title":"Belt"},{"cues":[],"distanceMeters":null,"durationMs":30000,"incline":null,"index":1,"isRest":true,"kind":"rest","round":1,"rounds":2,"segment":0,"speed":null,"title":"Rest"},{"cues":[{"atMs":0,"text":"Hold the rails"}],"distanceMeters":null,"durationMs":60000,"incline":"6%","index":2,"isRest":false,"kind":"treadmill","round":2,"rounds":2,"segment":0,"speed":"1.8 mph","title":"Belt"},{"cues":[],"distanceMeters":20,"durationMs":null,"incline":null,"index":3,"isRest":false,"kind":"jog","round":1,"rounds":1,"segment":1,"speed":null,"title":"Jog"}]}
{"at":2,"command":{"seconds":30,"type":"extend"},"kind":"command","seq":1,"stepIndex":0}
{"at":3,"kind":"announce","seq":1,"text":"Water"}
{"at":4,"client":7,"kind":"stop-signal","name":"Ana","seq":1,"stepIndex":0}

"""#

/// A class recorded by classctl with format 1 (plan only, `restartStep`), kept as written.
private let formatOneRecording = """
{"classCode":"OLD1","format":"classctl-recording/1","plan":{"goal":"custom","safety":[],"segments":[{"cues":[],"durationMs":10000,"kind":"walk","rounds":2,"restMs":5000,"title":"Walk"},{"cues":[],"distanceMeters":20,"kind":"jog","rounds":1,"title":"Jog"}],"title":"Old"},"startedAt":1000}
{"at":2000,"command":{"type":"start"},"kind":"command","seq":1,"stepIndex":0}
{"at":5000,"command":{"type":"restartStep"},"kind":"command","seq":2,"stepIndex":0}
{"at":15000,"kind":"auto-advance","seq":3,"stepIndex":1}
{"at":40000,"command":{"type":"end"},"kind":"command","seq":6,"stepIndex":null}

"""

@Suite struct RecordingFormatTests {
    @Test func recordedShapeIsPinnedToTheFormatVersion() throws {
        let pinned = try #require(pinnedShapes[RecordingHeader.currentFormat],
                                  "no pinned shape for \(RecordingHeader.currentFormat): add it to pinnedShapes")
        let actual = try shapeLines()
        #expect(actual == pinned, """
            What a recording holds changed without a new format version. Bump RecordingHeader.currentFormat, \
            keep the reader for the old one, and pin the new shape here. Now written:
            \(actual)
            """)
    }

    @Test func theWireCarriesTheRecordedStepShape() throws {
        // The same Codable form goes into welcome.class.steps (LiveClass) and the recording.
        let step = Expansion.steps(for: everyFieldPlan)[0]
        let line = String(decoding: try RecordingWriter.encodeLine(step), as: UTF8.self)
        #expect(line.hasPrefix(#"{"cues":[{"atMs":0,"text":"Hold the rails"}],"distanceMeters":null,"durationMs":60000"#))
        let back = try JSONDecoder().decode(Step.self, from: Data(line.utf8))
        #expect(back == step)
    }

    @Test func everyReadableFormatIsKnown() {
        #expect(RecordingHeader.readableFormats.contains(RecordingHeader.currentFormat))
        #expect(RecordingHeader.readableFormats.isSuperset(of: ["classctl-recording/1", "classctl-recording/2", "classctl-recording/3"]))
    }

    @Test func formatOneStillReplays() throws {
        let recording = try RecordingReader.parse(Data(formatOneRecording.utf8), name: "old.jsonl")
        #expect(recording.steps == Expansion.steps(for: recording.plan), "format 1 steps come from its plan")
        #expect(recording.events.compactMap(\.command) == [.start, .restart, .end])
        let (snapshots, _) = ReplayScript(recording: recording).snapshots(from: recording.startedAt)
        #expect(snapshots.last?.status == .finished)
        #expect(snapshots.contains { $0.stepIndex == 1 }, "the rest after round 1 ran")
    }

    @Test func currentFormatRoundTrips() throws {
        let recording = try RecordingReader.parse(Data(try shapeLines().utf8), name: "new.jsonl")
        #expect(recording.steps == Expansion.steps(for: everyFieldPlan))
        #expect(recording.instructorTokenHash == "pbkdf2-sha256$1$c2FsdA$aGFzaA")
        #expect(recording.events.last?.kind == .suspended)
        #expect(recording.intactLength == Data(try shapeLines().utf8).count)
    }

    @Test func formatThreeStillReads() throws {
        let recording = try RecordingReader.parse(Data(formatThreeRecording.utf8), name: "v3.jsonl")
        #expect(recording.instructorTokenHash == "pbkdf2-sha256$1$c2FsdA$aGFzaA")
        #expect(recording.plan.announcements == nil)
        #expect(recording.events.last?.kind == .suspended)
    }

    @Test func formatTwoStillReads() throws {
        let recording = try RecordingReader.parse(Data(formatTwoRecording.utf8), name: "v2.jsonl")
        #expect(recording.instructorTokenHash == nil)
        #expect(recording.events.last?.name == "Ana")
        #expect(recording.events.last?.client == 7)
    }

    @Test func anUnknownFormatIsRefusedWithTheKnownOnes() {
        let text = #"{"classCode":"X","format":"classctl-recording/99","plan":{"goal":"custom","safety":[],"segments":[],"title":"T"},"startedAt":1}"#
        #expect(throws: RecordingError.self) { try RecordingReader.parse(Data(text.utf8), name: "x") }
    }
}
