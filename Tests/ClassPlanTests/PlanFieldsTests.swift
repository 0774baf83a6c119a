// Plan fields for the console and the phones' timer: ready-made announcements and timer calls.
import Testing
@testable import ClassPlan

@Suite struct PlanFieldsTests {
    let base = "title: T\nsegments:\n  - {kind: walk, title: W, duration: 1min}\n"

    @Test func announcementsAndCallsParseAndRoundTrip() throws {
        let text = base + "announcements:\n  - Water break after this round\n  - Hold the rails\ncalls: {lead_in: true, halfway: false}\n"
        let (plan, diagnostics) = PlanLoader.parse(text, file: "p.yaml")
        #expect(diagnostics.errors.isEmpty, "\(diagnostics.map(\.formatted))")
        let p = try #require(plan)
        #expect(p.announcements == ["Water break after this round", "Hold the rails"])
        #expect(p.calls == TimerCalls(leadIn: true, halfway: false, lastTen: true), "a call left out stays on")
        #expect(PlanLoader.parse(PlanWriter.yaml(p), file: "again.yaml").plan == p)
        #expect(PlanLoader.parse(base, file: "b").plan?.calls == nil, "no calls: all on")
    }

    @Test func badFieldsAreReportedWithTheirPlace() {
        let long = String(repeating: "x", count: 281)
        let (_, d1) = PlanLoader.parse(base + "announcements:\n  - \(long)\n", file: "p.yaml")
        #expect(d1.errors.contains { $0.path == "announcements[0]" && $0.line == 5 })
        let (_, d2) = PlanLoader.parse(base + "calls: {halfway: maybe}\n", file: "p.yaml")
        #expect(d2.errors.contains { $0.path == "calls.halfway" && $0.message.contains("true or false") })
        let (_, d3) = PlanLoader.parse(base + "calls: {half_way: false}\n", file: "p.yaml")
        #expect(d3.errors.contains { $0.path.hasPrefix("calls") })
    }
}
