// Prints a ClassPlan as a timeline file. The output always parses back to an equal plan
// (tested over every ready-made class), so `classctl new` and `classctl export` can rely on it.

public enum PlanWriter {
    public static func yaml(_ plan: ClassPlan) -> String {
        var lines: [String] = []
        lines.append("title: \(quote(plan.title))")
        lines.append("goal: \(plan.goal.rawValue)")
        if let level = plan.level { lines.append("level: \(level.rawValue)") }
        if let notes = plan.notes { lines.append("notes: \(quote(notes))") }
        if !plan.safety.isEmpty {
            lines.append("safety:")
            lines += plan.safety.map { "  - \(quote($0))" }
        }
        if let share = plan.advanceWhenDone { lines.append("advance_when_done: \(Quantity.formatNumber(share))") }
        if let announcements = plan.announcements, !announcements.isEmpty {
            lines.append("announcements:")
            lines += announcements.map { "  - \(quote($0))" }
        }
        if let calls = plan.calls {
            lines.append("calls: {lead_in: \(calls.leadIn), halfway: \(calls.halfway), last_ten: \(calls.lastTen)}")
        }
        lines.append("segments:")
        for segment in plan.segments {
            var fields: [String] = []
            if let id = segment.id { fields.append("id: \(quote(id))") }
            fields.append("kind: \(segment.kind.rawValue)")
            fields.append("title: \(quote(segment.title))")
            if let ms = segment.durationMs { fields.append("duration: \(Quantity.formatDuration(ms))") }
            if let meters = segment.distanceMeters { fields.append("distance: \(Quantity.formatDistance(meters))") }
            if let ms = segment.paceMs { fields.append("pace: \(Quantity.formatDuration(ms))") }
            if segment.rounds != 1 { fields.append("rounds: \(segment.rounds)") }
            if let ms = segment.restMs { fields.append("rest: \(Quantity.formatDuration(ms))") }
            if let speed = segment.speed { fields.append("speed: \(quote(speed.text))") }
            if let incline = segment.inclinePercent { fields.append("incline: \(Quantity.formatNumber(incline))%") }
            if !segment.cues.isEmpty {
                fields.append("cues:")
                for cue in segment.cues where cue.atMs == 0 {
                    fields.append("  - \(quote(cue.text))")
                }
                for cue in segment.cues where cue.atMs != 0 {
                    fields.append("  - at: \(Quantity.formatDuration(cue.atMs))")
                    fields.append("    text: \(quote(cue.text))")
                }
            }
            for (index, field) in fields.enumerated() {
                lines.append((index == 0 ? "  - " : "    ") + field)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A YAML double-quoted scalar. Escapes everything YAML would not read back verbatim.
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                let value = scalar.value
                let unprintable = value < 0x20 || (0x7F...0x9F).contains(value) || value == 0x2028
                    || value == 0x2029 || value == 0xFEFF || value == 0xFFFE || value == 0xFFFF
                if unprintable {
                    let hex = String(value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
