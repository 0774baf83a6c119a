import Foundation
import Testing
@testable import ClassPlan

/// Every file in fixtures/broken must fail with this first error, at this place.
private let expected: [String: (line: Int, column: Int, path: String, message: String)] = [
    "advance-share.yaml": (2, 20, "advance_when_done", "advance_when_done '1.5' must be a share above 0 and at most 1"),
    "alias-bomb.yaml": (2, 4, "", "anchors (&name) are not allowed in plan files"),
    "alias-use.yaml": (6, 11, "", "aliases (*name) are not allowed in plan files"),
    "binary.yaml": (1, 1, "", "the file is not UTF-8 text"),
    "both-duration-distance.yaml": (6, 15, "segments[0]", "segments[0] has both duration and distance: choose one"),
    "briefing-distance.yaml": (5, 15, "segments[0].distance", "a briefing has no distance"),
    "colon-in-text.yaml": (3, 5, "safety[0]", "put the text in quotes"),
    "comments-only.yaml": (1, 1, "", "the file is empty"),
    "cue-after-end.yaml": (7, 13, "segments[0].cues[0].at", "cue at 2min is not within this 1m30s segment"),
    "deep-nesting.yaml": (2, 22, "", "nested more than 12 levels deep"),
    "duplicate-key.yaml": (1, 1, "", "field 'title' appears more than once"),
    "empty-segments.yaml": (2, 11, "segments", "segments is empty"),
    "empty.yaml": (1, 1, "", "the file is empty"),
    "huge-number.yaml": (5, 15, "segments[0].duration", "is not a duration"),
    "missing-title.yaml": (1, 1, "title", "title is missing"),
    "missing-unit.yaml": (5, 15, "segments[0].duration", "duration '90' needs a unit, e.g. 90s"),
    "not-utf8.yaml": (1, 11, "", "the file is not UTF-8 text (invalid byte at offset 10)"),
    "nul-bytes.yaml": (1, 11, "", "the file contains NUL bytes"),
    "rounds-out-of-range.yaml": (6, 13, "segments[0].rounds", "rounds '80' must be a whole number from 1 to 50"),
    "speed-on-walk.yaml": (6, 12, "segments[0].speed", "speed is only for treadmill segments, not walk"),
    "tab-indent.yaml": (3, 1, "", "YAML does not allow tabs for indentation"),
    "top-level-list.yaml": (1, 1, "", "a plan file must be a mapping"),
    "two-documents.yaml": (4, 1, "", "a plan file holds one document"),
    "typo-field.yaml": (5, 5, "segments[0].duraton", "unknown field 'duraton' in a segment; did you mean 'duration'?"),
    "unknown-kind.yaml": (3, 11, "segments[0].kind", "did you mean 'sprint'?"),
    "unterminated-quote.yaml": (3, 1, "", "found unexpected end of stream"),
]

private let brokenDirectory = packageRoot.appendingPathComponent("Tests/ClassPlanTests/fixtures/broken")

@Suite struct BrokenFilesTests {
    @Test func corpusAndExpectationsCoverTheSameFiles() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: brokenDirectory.path)
        #expect(Set(files) == Set(expected.keys))
    }

    @Test(arguments: expected.keys.sorted())
    func brokenFileIsRejectedWithPlaceAndMessage(_ name: String) throws {
        let want = try #require(expected[name])
        let url = brokenDirectory.appendingPathComponent(name)
        let (plan, diagnostics) = PlanLoader.load(contentsOf: url)
        #expect(plan == nil)
        let match = diagnostics.first { $0.severity == .error && $0.message.contains(want.message) }
        let found = try #require(match, "\(name): \(diagnostics.map(\.formatted))")
        #expect(found.line == want.line && found.column == want.column, "\(found.formatted)")
        #expect(found.path == want.path)
        #expect(found.file == url.path)
        #expect(found.formatted.hasPrefix("\(url.path):\(want.line):\(want.column): error: "))
    }

    @Test func everyProblemIsReportedNotJustTheFirst() {
        let text = """
            title: Many
            goal: fitnes
            segments:
              - kind: walk
                title: Walk
                duration: 90
              - kind: treadmill
                title: Belt
                duration: 1min
                incline: 7
              - kind: rest
                title: Rest
                distance: 10m
            """
        let (plan, diagnostics) = PlanLoader.parse(text, file: "many.yaml")
        #expect(plan == nil)
        #expect(diagnostics.map(\.path) == ["goal", "segments[0].duration", "segments[1].incline", "segments[2].distance"])
        #expect(diagnostics[2].message == "incline '7' needs a percent sign, e.g. 7%")
        #expect(diagnostics[0].formatted == "many.yaml:2:7: error: goal: goal 'fitnes' is not one of rehab, fitness, athletic, senior, custom; did you mean 'fitness'?")
    }

    @Test func oversizedInputIsRefusedBeforeParsing() {
        let big = [UInt8](repeating: 0x20, count: PlanLoader.maxFileBytes + 1)
        let (plan, diagnostics) = PlanLoader.parse(data: big, file: "big.yaml")
        #expect(plan == nil)
        #expect(diagnostics.first?.message.contains("larger than 256 KiB") == true)
    }

    @Test func bytePositionsCountLinesAndCharacters() {
        // One function places invalid bytes, NUL bytes and YAML reader errors.
        let text = "title: Café\nsegments:\n  - ñé: x"
        func at(_ offset: Int) -> [Int] {
            let fromBytes = Diagnostic.position(ofByte: offset, in: Array(text.utf8))
            let fromText = Diagnostic.position(ofByte: offset, in: text.utf8)
            return [fromBytes.line, fromBytes.column, fromText.line, fromText.column]
        }
        #expect(at(0) == [1, 1, 1, 1])
        #expect(at(12) == [1, 12, 1, 12], "é is two bytes, one column")
        #expect(at(13) == [2, 1, 2, 1])
        #expect(at(29) == [3, 6, 3, 6])
        #expect(at(31) == [3, 7, 3, 7])
        let (_, bad) = PlanLoader.parse(data: Array("title: Café\n  x: ñ".utf8) + [0xFF], file: "bad.yaml")
        #expect(bad.first.map { [$0.line, $0.column] } == [2, 7])
        let (_, nul) = PlanLoader.parse("title: Café\n  x: ñ\u{0}", file: "nul.yaml")
        #expect(nul.first.map { [$0.line, $0.column] } == [2, 7])
    }

    @Test func unreadableFileIsADiagnosticNotACrash() {
        let (plan, diagnostics) = PlanLoader.load(contentsOf: URL(fileURLWithPath: "/nonexistent/plan.yaml"))
        #expect(plan == nil)
        #expect(diagnostics.first?.message.hasPrefix("cannot read the file") == true)
    }

    @Test func randomBytesNeverCrashOrHang() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("title: segments:- kind walk 90s [ ] { } & * ! | > ' \" # \n\t:,?%@`".utf8)
        for _ in 0..<300 {
            let length = Int.random(in: 0..<400, using: &generator)
            let bytes = (0..<length).map { _ in alphabet.randomElement(using: &generator) ?? 0x20 }
            let (plan, diagnostics) = PlanLoader.parse(data: bytes, file: "fuzz")
            #expect(plan != nil || diagnostics.hasErrors)
        }
    }
}

@Suite struct QuantityTests {
    @Test func durations() throws {
        let good: [String: Int64] = ["90s": 90_000, "5min": 300_000, "1:30": 90_000, "1h": 3_600_000,
                                     "2m30s": 150_000, "1h30m": 5_400_000, "1.5min": 90_000, "1:02:03": 3_723_000,
                                     "500ms": 500, "45 sec": 45_000]
        for (text, ms) in good { #expect(try Quantity.duration(text).get() == ms, "\(text)") }
        for bad in ["90", "", "1:75", "30s2m", "5 parsecs", "25h", "1::2", "-5s", "s"] {
            #expect(throws: QuantityError.self, "\(bad)") { try Quantity.duration(bad).get() }
        }
        #expect(Quantity.formatDuration(150_000) == "2m30s")
        #expect(Quantity.formatDuration(300_000) == "5min")
        #expect(Quantity.formatDuration(5_400_000) == "1h30m")
    }

    @Test func distancesSpeedsInclines() throws {
        #expect(try Quantity.distance("0.5km").get() == 500)
        #expect(try Quantity.distance("25 m").get() == 25)
        #expect(throws: QuantityError.self) { try Quantity.distance("25").get() }
        #expect(throws: QuantityError.self) { try Quantity.distance("25 miles").get() }
        #expect(abs(try Quantity.speed("1.8mph").get().mph - 1.8) < 1e-9)
        #expect(try Quantity.speed("3km/h").get().kmh == 3)
        #expect(throws: QuantityError.self) { try Quantity.speed("100mph").get() }
        #expect(try Quantity.incline("7%").get() == 7)
        #expect(throws: QuantityError.self) { try Quantity.incline("7").get() }
        #expect(Suggest.closest(to: "durration", in: PlanDecoder.segmentFields) == "duration")
        #expect(Suggest.closest(to: "zebra", in: PlanDecoder.segmentFields) == nil)
    }
}

@Suite struct AdviceTests {
    private func warnings(_ yaml: String) -> [String] {
        let (plan, diagnostics) = PlanLoader.parse(yaml, file: "w.yaml")
        #expect(plan != nil, "\(diagnostics.map(\.formatted))")
        return diagnostics.warnings.map { "\($0.path): \($0.message)" }
    }

    @Test func guidanceWarnings() {
        let found = warnings("""
            title: Risky
            goal: senior
            level: beginner
            segments:
              - {kind: jog, title: Jog first, distance: 40m, rounds: 8}
              - {kind: walk, title: Long walk, distance: 200m}
              - {kind: treadmill, title: Steep, duration: 2min, speed: 3mph, incline: 12%}
              - {kind: sprint, title: Dash, distance: 20m}
            """)
        let paths = found.map { String($0.prefix { $0 != ":" }) }
        #expect(paths == ["safety", "segments[0].kind", "segments[0].rounds", "segments[2].speed",
                          "segments[2].incline", "segments[3].kind", "segments[3].kind", "segments[3].kind"])
        #expect(found.contains { $0.contains("comes before any walking") })
        #expect(found.contains { $0.contains("does not end with a cooldown") })
        #expect(found.contains { $0.contains("sprints are not for beginners") })
    }

    @Test func warningsCarryTheLineOfTheField() {
        let (_, diagnostics) = PlanLoader.parse("""
            title: Steep
            safety: [Hold the rails]
            segments:
              - kind: walk
                title: Warm-up
                distance: 25m
              - kind: treadmill
                title: Climb
                duration: 2min
                incline: 15%
              - kind: cooldown
                title: Easy
                duration: 2min
            """, file: "s.yaml")
        #expect(diagnostics.map(\.formatted) == [
            "s.yaml:10:14: warning: segments[1].incline: incline 15% is steeper than the 5-10% suggested for backward treadmill work",
        ])
    }

    @Test func treadmillSpeedIsOnlyFlaggedWhereTheGuidanceApplies() {
        let plan = """
            title: Belt
            goal: fitness
            level: intermediate
            safety: [Hold the rails]
            segments:
              - {kind: treadmill, title: Walk, duration: 2min, speed: 2.5mph, incline: 5%}
              - {kind: cooldown, title: Easy, duration: 2min}
            """
        #expect(warnings(plan).isEmpty)
        #expect(warnings(plan.replacingOccurrences(of: "goal: fitness", with: "goal: rehab")).count == 1)
    }
}
