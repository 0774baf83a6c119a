import Foundation
import Testing
@testable import ClassPlan

/// Root of the package, found from this file's path (Tests/ClassPlanTests/...).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

@Suite struct BuiltinPlansTests {
    @Test func everyShippedFileValidatesWithNoWarnings() throws {
        let directory = packageRoot.appendingPathComponent("config/classes")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count == 6)
        for name in files {
            let (plan, diagnostics) = PlanLoader.load(contentsOf: directory.appendingPathComponent(name))
            #expect(plan != nil, "\(name)")
            #expect(diagnostics.isEmpty, "\(name): \(diagnostics.map(\.formatted))")
        }
    }

    @Test func embeddedCopiesMatchTheFiles() throws {
        let directory = packageRoot.appendingPathComponent("config/classes")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }
        #expect(Set(files.map { String($0.dropLast(5)) }) == Set(BuiltinPlans.names))
        for (name, yaml) in BuiltinPlans.sources {
            let fileText = try String(contentsOf: directory.appendingPathComponent("\(name).yaml"), encoding: .utf8)
            #expect(fileText == yaml + "\n", "embedded \(name) differs from config/classes/\(name).yaml")
            let fromFile = PlanLoader.parse(fileText, file: name).plan
            #expect(fromFile != nil)
            #expect(fromFile == BuiltinPlans.all[name])
        }
    }

    @Test func defaultIsTheFirstBackwardWalk() throws {
        let plan = BuiltinPlans.default
        #expect(plan.title == "First backward walk")
        #expect(plan.level == .beginner)
        try #require(plan.segments.map(\.kind) == [.briefing, .walk, .rest, .cooldown])
        let walk = plan.segments[1]
        #expect((4...5).contains(walk.rounds))
        #expect((20.0...30.0).contains(walk.distanceMeters ?? 0))
    }

    @Test func writerOutputParsesBackToTheSamePlan() {
        for (name, plan) in BuiltinPlans.all {
            let text = PlanWriter.yaml(plan)
            let (reparsed, diagnostics) = PlanLoader.parse(text, file: name)
            #expect(diagnostics.errors.isEmpty, "\(name): \(diagnostics.map(\.formatted))")
            #expect(reparsed == plan, "\(name)")
        }
    }

    @Test func templatesValidateCleanlyForEveryGoalAndLength() {
        for goal in Goal.allCases {
            for minutes in [nil, 5, 20, 45, 120] as [Int?] {
                let text = PlanTemplates.make(goal: goal, minutes: minutes)
                let (plan, diagnostics) = PlanLoader.parse(text, file: "new")
                #expect(diagnostics.isEmpty, "\(goal) \(String(describing: minutes)): \(diagnostics.map(\.formatted))")
                #expect(plan?.goal == goal)
            }
        }
    }

    @Test func templateLengthFollowsTheRequestWhenTheBlockIsTimed() throws {
        let short = try #require(PlanLoader.parse(PlanTemplates.make(goal: .rehab, minutes: 10), file: "a").plan)
        let long = try #require(PlanLoader.parse(PlanTemplates.make(goal: .rehab, minutes: 40), file: "b").plan)
        let shortMin = Double(PlanTotals(short).estimatedMs) / 60_000
        let longMin = Double(PlanTotals(long).estimatedMs) / 60_000
        #expect(abs(shortMin - 10) <= 2, "\(shortMin)")
        #expect(abs(longMin - 40) <= 2, "\(longMin)")
    }

    @Test func tableShowsEverySegmentAndTotals() {
        let plan = BuiltinPlans.default
        let table = PlanTable.render(plan)
        for segment in plan.segments { #expect(table.contains(segment.title)) }
        let totals = PlanTotals(plan)
        // 2min briefing + 5 x 45s walks + 4 x 30s rests + 1min rest + 3min cool-down
        #expect(totals.estimatedMs == 120_000 + 5 * 45_000 + 4 * 30_000 + 60_000 + 180_000)
        #expect(totals.distanceMeters == 125)
        #expect(table.contains("Total: about 11:45, 125m covered"))
        #expect(table.contains("x5"))
    }
}
