// Starting points for `classctl new`: the ready-made class that matches the goal,
// retitled and stretched or shortened to roughly the requested length.

public enum PlanTemplates {
    /// The ready-made class each goal starts from.
    public static func baseName(for goal: Goal) -> String {
        switch goal {
        case .rehab: return "knee-rehab"
        case .fitness: return "fitness-jog-sets"
        case .athletic: return "athletic-agility"
        case .senior: return "senior-mobility"
        case .custom: return BuiltinPlans.defaultName
        }
    }

    public static let minutesRange = 5...120

    /// YAML text of a new plan. `minutes` (clamped to 5...120) sets the target length;
    /// the main block of the class absorbs the difference.
    public static func make(goal: Goal, minutes: Int?) -> String {
        var plan = BuiltinPlans.all[baseName(for: goal)] ?? BuiltinPlans.default
        plan.title = "My \(goal == .custom ? "backward running" : goal.rawValue) class"
        plan.goal = goal
        if let minutes {
            let clamped = min(max(minutes, minutesRange.lowerBound), minutesRange.upperBound)
            resize(&plan, toMs: Int64(clamped) * 60_000)
        }
        let header = """
            # A backward-running class for classctl. Format: docs/timeline.md
            # Check it:   classctl validate FILE      Preview it: classctl show FILE
            # Each segment has a duration (90s, 5min, 1:30) or a distance (25m, 0.5km).

            """
        return header + PlanWriter.yaml(plan)
    }

    /// Changes the longest walking/jogging/treadmill block so the estimate lands near `targetMs`.
    /// Timed blocks change length per round; distance blocks change their number of rounds
    /// within the 4-6 the guidance suggests, so the result never earns a warning.
    static func resize(_ plan: inout ClassPlan, toMs targetMs: Int64) {
        let movable: Set<SegmentKind> = [.walk, .jog, .treadmill]
        func share(_ s: Segment) -> Int64 { (s.roundEstimateMs ?? 0) * Int64(s.rounds) }
        guard let main = plan.segments.indices
            .filter({ movable.contains(plan.segments[$0].kind) })
            .max(by: { share(plan.segments[$0]) < share(plan.segments[$1]) }) else { return }
        let others = PlanTotals(plan).estimatedMs - share(plan.segments[main])
            - (plan.segments[main].restMs ?? 0) * Int64(plan.segments[main].rounds - 1)
        let available = max(targetMs - others, 30_000)
        var segment = plan.segments[main]
        let rest = segment.restMs ?? 0
        if let duration = segment.durationMs {
            // rounds * d + (rounds - 1) * rest = available, in whole 15 s steps, at least 30 s.
            let rounds = Int64(segment.rounds)
            let perRound = (available - (rounds - 1) * rest) / rounds
            let stepped = max(30_000, perRound / 15_000 * 15_000)
            segment.durationMs = min(stepped, Quantity.maxDurationMs)
            segment.cues = segment.cues.filter { $0.atMs < segment.durationMs ?? duration }
        } else if let pace = segment.paceMs {
            let rounds = (available + rest) / max(pace + rest, 1)
            segment.rounds = Int(min(max(rounds, 4), 6))
        }
        plan.segments[main] = segment
    }
}

/// The text table `classctl show` prints.
public enum PlanTable {
    public static func render(_ plan: ClassPlan) -> String {
        var out = plan.title + "\n"
        var about = ["goal: \(plan.goal.rawValue)"]
        if let level = plan.level { about.append("level: \(level.rawValue)") }
        if let share = plan.advanceWhenDone {
            about.append("distance steps end when \(Quantity.formatNumber((share * 100).rounded()))% tap done")
        }
        out += about.joined(separator: ", ") + "\n"
        if let notes = plan.notes { out += "\n" + notes + "\n" }

        var rows = [["#", "kind", "title", "amount", "rounds", "rest", "time"]]
        for (index, segment) in plan.segments.enumerated() {
            var amount = segment.durationMs.map(Quantity.formatDuration)
                ?? segment.distanceMeters.map(Quantity.formatDistance) ?? ""
            if let pace = segment.paceMs { amount += " in ~\(Quantity.formatDuration(pace))" }
            if let speed = segment.speed { amount += " @ \(speed.text)" }
            if let incline = segment.inclinePercent { amount += " \(Quantity.formatNumber(incline))%" }
            let rounds = Int64(segment.rounds)
            let time = segment.roundEstimateMs.map {
                Quantity.formatClock($0 * rounds + (segment.restMs ?? 0) * (rounds - 1))
            } ?? "?"
            rows.append(["\(index + 1)", segment.kind.rawValue, segment.title, amount,
                         segment.rounds == 1 ? "" : "x\(segment.rounds)",
                         segment.restMs.map(Quantity.formatDuration) ?? "", time])
        }
        out += "\n" + layout(rows) + "\n"

        let totals = PlanTotals(plan)
        out += "Total: about \(Quantity.formatClock(totals.estimatedMs))"
        if totals.distanceMeters > 0 { out += ", \(Quantity.formatDistance(totals.distanceMeters)) covered" }
        if totals.untimedRounds > 0 {
            out += " (plus \(totals.untimedRounds) distance rounds with no pace, not counted)"
        }
        out += "\n"
        if !plan.safety.isEmpty {
            out += "\nSafety, shown before the start:\n" + plan.safety.map { "  - \($0)\n" }.joined()
        }
        return out
    }

    /// Left-aligned columns separated by two spaces, trailing spaces trimmed.
    static func layout(_ rows: [[String]]) -> String {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { column in rows.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            var line = ""
            for (column, cell) in row.enumerated() {
                line += cell
                if column < row.count - 1 { line += String(repeating: " ", count: widths[column] - cell.count + 2) }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }
}
