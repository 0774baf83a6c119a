// Turns a composed YAML tree into a ClassPlan, collecting every problem instead of stopping at
// the first: a coach fixing a file wants the whole list in one go.
// No I/O here; PlanLoader reads bytes and hands over the tree.

import Foundation
import Yams

/// Where each plan path ("segments[2].incline") was found, for placing warnings.
struct SourceMap {
    var marks: [String: (line: Int, column: Int)] = [:]

    /// The mark of `path`, or of its closest recorded parent ("segments[2]" for "segments[2].x").
    func locate(_ path: String) -> (line: Int, column: Int) {
        var candidate = path
        while true {
            if let mark = marks[candidate] { return mark }
            guard let cut = candidate.lastIndex(where: { $0 == "." || $0 == "[" }) else { break }
            candidate = String(candidate[..<cut])
        }
        return marks[""] ?? (1, 1)
    }
}

struct PlanDecoder {
    static let maxSegments = 200
    static let maxCuesPerSegment = 100
    static let maxSafetyItems = 30
    static let maxSteps = 1000
    static let maxShortText = 200
    static let maxLongText = 4000
    /// As the live protocol allows (ClassLimits.maxAnnouncementCharacters).
    static let maxAnnouncement = 280

    static let topLevelFields = ["title", "goal", "notes", "safety", "level", "advance_when_done", "announcements", "calls", "segments"]
    static let callFields = ["lead_in", "halfway", "last_ten"]
    static let segmentFields = ["id", "kind", "title", "duration", "distance", "pace", "rounds", "rest",
                                "speed", "incline", "cues"]
    static let cueFields = ["at", "text"]

    let file: String
    private(set) var diagnostics: [Diagnostic] = []
    private(set) var sourceMap = SourceMap()

    init(file: String) {
        self.file = file
    }

    // MARK: Reporting

    mutating func report(_ severity: Diagnostic.Severity, at node: Node?, _ path: String, _ message: String) {
        let mark = node?.mark.map { (line: $0.line, column: $0.column) } ?? sourceMap.locate(path)
        diagnostics.append(Diagnostic(severity: severity, file: file, line: mark.line, column: mark.column,
                                      path: path, message: message))
    }

    mutating func error(_ node: Node?, _ path: String, _ message: String) {
        report(.error, at: node, path, message)
    }

    private mutating func remember(_ path: String, _ node: Node) {
        if let mark = node.mark { sourceMap.marks[path] = (mark.line, mark.column) }
    }

    // MARK: Plan

    mutating func decode(_ root: Node) -> ClassPlan? {
        remember("", root)
        guard let fields = fields(of: root, path: "", allowed: Self.topLevelFields, what: "a plan file") else {
            if root.mapping == nil {
                error(root, "", "a plan file must be a mapping of fields such as 'title:' and 'segments:', not \(describe(root))")
            }
            return nil
        }

        let title = requiredText(fields["title"], path: "title", parent: root, limit: Self.maxShortText)
        let goal = fields["goal"].flatMap { choice($0, path: "goal", as: Goal.self) } ?? .custom
        let notes = fields["notes"].flatMap { optionalText($0, path: "notes", limit: Self.maxLongText) }
        let level = fields["level"].flatMap { choice($0, path: "level", as: Level.self) }
        let safety = fields["safety"].map { textList($0, path: "safety") } ?? []
        let advance = fields["advance_when_done"].flatMap { share($0, path: "advance_when_done") }
        let announcements = fields["announcements"].map { textList($0, path: "announcements", limit: Self.maxAnnouncement) }
            .flatMap { $0.isEmpty ? nil : $0 }
        let calls = fields["calls"].flatMap { timerCalls($0) }

        var segments: [Segment] = []
        if let node = fields["segments"] {
            segments = decodeSegments(node)
        } else {
            error(root, "segments", "the plan needs 'segments:', a list of at least one segment")
        }

        guard let title, !diagnostics.hasErrors else { return nil }
        return ClassPlan(title: title, goal: goal, notes: notes, safety: safety, level: level,
                         advanceWhenDone: advance, announcements: announcements, calls: calls, segments: segments)
    }

    private mutating func decodeSegments(_ node: Node) -> [Segment] {
        remember("segments", node)
        guard let list = node.sequence else {
            error(node, "segments", "segments must be a list ('- kind: walk ...'), not \(describe(node))")
            return []
        }
        guard !list.isEmpty else {
            error(node, "segments", "segments is empty: add at least one segment")
            return []
        }
        guard list.count <= Self.maxSegments else {
            error(node, "segments", "\(list.count) segments is more than the \(Self.maxSegments) a plan may have")
            return []
        }
        var segments: [Segment] = []
        var idOwners: [String: String] = [:]
        var stepCount = 0
        for (index, item) in list.enumerated() {
            let path = "segments[\(index)]"
            guard let segment = decodeSegment(item, path: path) else { continue }
            if let id = segment.id {
                if let owner = idOwners[id] {
                    error(item["id"], "\(path).id", "id '\(id)' is already used by \(owner)")
                } else {
                    idOwners[id] = path
                }
            }
            stepCount += segment.stepCount
            segments.append(segment)
        }
        if stepCount > Self.maxSteps {
            error(node, "segments", "with rounds expanded the class has \(stepCount) steps; at most \(Self.maxSteps)")
        }
        return segments
    }

    // MARK: Segment

    private mutating func decodeSegment(_ node: Node, path: String) -> Segment? {
        remember(path, node)
        guard let fields = fields(of: node, path: path, allowed: Self.segmentFields, what: "a segment") else {
            if node.mapping == nil {
                error(node, path, "each segment must be a mapping such as '- kind: walk', not \(describe(node))")
            }
            return nil
        }
        let errorsBefore = diagnostics.errors.count

        let kind: SegmentKind?
        if let kindNode = fields["kind"] {
            kind = choice(kindNode, path: "\(path).kind", as: SegmentKind.self)
        } else {
            kind = nil
            error(node, path, "\(path) needs a kind: one of \(names(SegmentKind.self))")
        }
        let title = requiredText(fields["title"], path: "\(path).title", parent: node, limit: Self.maxShortText)
        let id = fields["id"].flatMap { optionalText($0, path: "\(path).id", limit: 64) }

        let duration = fields["duration"].flatMap {
            positiveDuration($0, path: "\(path).duration", field: "duration")
        }
        let distance = fields["distance"].flatMap { node -> Double? in
            guard let text = scalarText(node, path: "\(path).distance") else { return nil }
            return unwrap(Quantity.distance(text), node, "\(path).distance")
        }
        let pace = fields["pace"].flatMap { positiveDuration($0, path: "\(path).pace", field: "pace") }
        let parsedRounds = fields["rounds"].flatMap { roundCount($0, path: "\(path).rounds") }
        let rounds = parsedRounds ?? 1
        let rest = fields["rest"].flatMap { positiveDuration($0, path: "\(path).rest", field: "rest") }
        let speed = fields["speed"].flatMap { node -> Speed? in
            guard let text = scalarText(node, path: "\(path).speed") else { return nil }
            return unwrap(Quantity.speed(text), node, "\(path).speed")
        }
        let incline = fields["incline"].flatMap { node -> Double? in
            guard let text = scalarText(node, path: "\(path).incline") else { return nil }
            return unwrap(Quantity.incline(text), node, "\(path).incline")
        }

        // Rules that relate fields to each other; only checked on fields that parsed.
        let hasDuration = fields["duration"] != nil, hasDistance = fields["distance"] != nil
        if hasDuration && hasDistance {
            error(fields["distance"], path, "\(path) has both duration and distance: choose one")
        } else if !hasDuration && !hasDistance {
            let example = kind?.isTimedOnly == true ? "a duration (e.g. 90s)" : "a duration (e.g. 90s) or a distance (e.g. 25m)"
            error(node, path, "\(path) needs \(example)")
        }
        if let kind, kind.isTimedOnly, hasDistance {
            error(fields["distance"], "\(path).distance", "a \(kind.rawValue) has no distance; give it a duration instead")
        }
        if fields["pace"] != nil, !hasDistance {
            error(fields["pace"], "\(path).pace", "pace is only for distance segments (the expected time to cover the distance)")
        }
        if let kind, kind != .treadmill {
            for field in ["speed", "incline"] where fields[field] != nil {
                error(fields[field], "\(path).\(field)", "\(field) is only for treadmill segments, not \(kind.rawValue)")
            }
        }
        if fields["rest"] != nil, fields["rounds"] == nil || parsedRounds == 1 {
            error(fields["rest"], "\(path).rest", "rest is the pause between rounds; it needs rounds of 2 or more")
        }

        let cues = fields["cues"].map { decodeCues($0, path: "\(path).cues", durationMs: duration, isDistance: hasDistance) } ?? []

        guard diagnostics.errors.count == errorsBefore, let kind, let title else { return nil }
        return Segment(id: id, kind: kind, title: title, durationMs: duration, distanceMeters: distance,
                       paceMs: pace, rounds: rounds, restMs: rest, speed: speed, inclinePercent: incline,
                       cues: cues)
    }

    private mutating func decodeCues(_ node: Node, path: String, durationMs: Int64?, isDistance: Bool) -> [Cue] {
        remember(path, node)
        guard let list = node.sequence else {
            error(node, path, "cues must be a list of '- at: 30s' entries or plain lines, not \(describe(node))")
            return []
        }
        guard list.count <= Self.maxCuesPerSegment else {
            error(node, path, "\(list.count) cues is more than the \(Self.maxCuesPerSegment) a segment may have")
            return []
        }
        var cues: [Cue] = []
        for (index, item) in list.enumerated() {
            let itemPath = "\(path)[\(index)]"
            remember(itemPath, item)
            if item.scalar != nil {
                if let text = requiredText(item, path: itemPath, parent: item, limit: Self.maxShortText) {
                    cues.append(Cue(atMs: 0, text: text))
                }
                continue
            }
            guard let fields = fields(of: item, path: itemPath, allowed: Self.cueFields, what: "a cue") else {
                error(item, itemPath, "a cue is a line of text or a mapping '{at: 30s, text: ...}', not \(describe(item))")
                continue
            }
            let text = requiredText(fields["text"], path: "\(itemPath).text", parent: item, limit: Self.maxShortText)
            var at: Int64? = 0
            if let atNode = fields["at"], let raw = scalarText(atNode, path: "\(itemPath).at") {
                at = raw.trimmingCharacters(in: .whitespaces) == "0"
                    ? 0 : unwrap(Quantity.duration(raw, field: "at"), atNode, "\(itemPath).at")
                if let offset = at, offset > 0 {
                    if isDistance {
                        error(atNode, "\(itemPath).at", "a distance segment has no clock, so its cues can only be at 0s")
                    } else if let durationMs, offset >= durationMs {
                        error(atNode, "\(itemPath).at",
                              "cue at \(Quantity.formatDuration(offset)) is not within this \(Quantity.formatDuration(durationMs)) segment")
                    }
                }
            }
            if let text, let at { cues.append(Cue(atMs: at, text: text)) }
        }
        return cues.sorted { $0.atMs < $1.atMs }
    }

    // MARK: Field helpers

    /// The mapping's fields by name; unknown names are reported with a suggestion.
    private mutating func fields(of node: Node, path: String, allowed: [String], what: String) -> [String: Node]? {
        guard let mapping = node.mapping else { return nil }
        var result: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                error(key, path, "field names must be plain words, not \(describe(key))")
                continue
            }
            let fieldPath = path.isEmpty ? name : "\(path).\(name)"
            if allowed.contains(name) {
                result[name] = value
                remember(fieldPath, value)
            } else {
                var message = "unknown field '\(name)' in \(what)"
                if let guess = Suggest.closest(to: name, in: allowed) {
                    message += "; did you mean '\(guess)'?"
                } else {
                    message += "; allowed: \(allowed.joined(separator: ", "))"
                }
                error(key, fieldPath, message)
            }
        }
        return result
    }

    private mutating func scalarText(_ node: Node, path: String) -> String? {
        guard let scalar = node.scalar else {
            var message = "\(lastComponent(path)) must be a single value, not \(describe(node))"
            if let mapping = node.mapping, mapping.count == 1 {
                message += " (text containing ': ' reads as a mapping in YAML; put the text in quotes)"
            }
            error(node, path, message)
            return nil
        }
        return scalar.string
    }

    private mutating func requiredText(_ node: Node?, path: String, parent: Node, limit: Int) -> String? {
        guard let node else {
            error(parent, path, "\(lastComponent(path)) is missing")
            return nil
        }
        guard let text = optionalText(node, path: path, limit: limit) else {
            if node.scalar != nil { error(node, path, "\(lastComponent(path)) is empty") }
            return nil
        }
        return text
    }

    /// Text, trimmed; nil (without error) for an empty or null value, nil with an error for lists etc.
    private mutating func optionalText(_ node: Node, path: String, limit: Int) -> String? {
        guard node.null == nil, let raw = scalarText(node, path: path) else { return nil }
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return nil }
        guard text.count <= limit else {
            error(node, path, "\(lastComponent(path)) is \(text.count) characters long; at most \(limit)")
            return nil
        }
        return text
    }

    /// `calls: {lead_in: true, halfway: false, last_ten: true}`; a missing call stays on.
    private mutating func timerCalls(_ node: Node) -> TimerCalls? {
        remember("calls", node)
        guard let fields = fields(of: node, path: "calls", allowed: Self.callFields, what: "calls") else {
            error(node, "calls", "calls must be a mapping such as '{lead_in: true, halfway: false, last_ten: true}', not \(describe(node))")
            return nil
        }
        var calls = TimerCalls()
        for (key, keyPath) in [("lead_in", \TimerCalls.leadIn), ("halfway", \TimerCalls.halfway), ("last_ten", \TimerCalls.lastTen)] {
            guard let value = fields[key] else { continue }
            switch scalarText(value, path: "calls.\(key)")?.lowercased() {
            case "true", "yes", "on": calls[keyPath: keyPath] = true
            case "false", "no", "off": calls[keyPath: keyPath] = false
            case let other?: error(value, "calls.\(key)", "calls.\(key) must be true or false, not '\(other)'")
            case nil: break
            }
        }
        return calls
    }

    private mutating func textList(_ node: Node, path: String, limit: Int = maxShortText) -> [String] {
        guard let list = node.sequence else {
            error(node, path, "\(path) must be a list ('- Use a clear, flat area'), not \(describe(node))")
            return []
        }
        guard list.count <= Self.maxSafetyItems else {
            error(node, path, "\(list.count) entries is more than the \(Self.maxSafetyItems) allowed")
            return []
        }
        return list.enumerated().compactMap { index, item in
            requiredText(item, path: "\(path)[\(index)]", parent: item, limit: limit)
        }
    }

    private mutating func choice<T: RawRepresentable & CaseIterable>(_ node: Node, path: String, as type: T.Type) -> T?
    where T.RawValue == String {
        guard let raw = scalarText(node, path: path) else { return nil }
        let text = raw.trimmingCharacters(in: .whitespaces).lowercased()
        if let value = T(rawValue: text) { return value }
        let options = T.allCases.map(\.rawValue)
        var message = "\(lastComponent(path)) '\(raw)' is not one of \(options.joined(separator: ", "))"
        if let guess = Suggest.closest(to: text, in: options) { message += "; did you mean '\(guess)'?" }
        error(node, path, message)
        return nil
    }

    private mutating func positiveDuration(_ node: Node, path: String, field: String) -> Int64? {
        guard let text = scalarText(node, path: path),
              let ms = unwrap(Quantity.duration(text, field: field), node, path) else { return nil }
        guard ms >= 1000 else {
            error(node, path, "\(field) '\(text)' is shorter than 1s")
            return nil
        }
        return ms
    }

    private mutating func roundCount(_ node: Node, path: String) -> Int? {
        guard let text = scalarText(node, path: path) else { return nil }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), (1...50).contains(value) else {
            error(node, path, "rounds '\(text)' must be a whole number from 1 to 50")
            return nil
        }
        return value
    }

    /// advance_when_done: 0.8 or 80%.
    private mutating func share(_ node: Node, path: String) -> Double? {
        guard let raw = scalarText(node, path: path) else { return nil }
        let text = raw.trimmingCharacters(in: .whitespaces)
        let value = text.hasSuffix("%") ? Double(text.dropLast()).map { $0 / 100 } : Double(text)
        guard let value, value > 0, value <= 1 else {
            error(node, path, "advance_when_done '\(raw)' must be a share above 0 and at most 1, e.g. 0.8 or 80%")
            return nil
        }
        return value
    }

    private mutating func unwrap<T>(_ result: Result<T, QuantityError>, _ node: Node, _ path: String) -> T? {
        switch result {
        case .success(let value): return value
        case .failure(let failure):
            error(node, path, failure.message)
            return nil
        }
    }

    private func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let scalar): return "'\(scalar.string.prefix(40))'"
        case .alias: return "an alias"
        }
    }

    private func names<T: RawRepresentable & CaseIterable>(_ type: T.Type) -> String where T.RawValue == String {
        T.allCases.map(\.rawValue).joined(separator: ", ")
    }

    private func lastComponent(_ path: String) -> String {
        guard let dot = path.lastIndex(of: ".") else { return path }
        return String(path[path.index(after: dot)...])
    }
}

/// "did you mean …?" by edit distance.
enum Suggest {
    static func closest(to word: String, in candidates: [String]) -> String? {
        let lower = word.lowercased()
        let scored = candidates.map { ($0, distance(lower, $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        let tolerance = max(1, min(3, best.0.count / 3))
        return best.1 <= tolerance ? best.0 : nil
    }

    /// Levenshtein distance; inputs are field names, so the O(n·m) table is tiny.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.prefix(64)), b = Array(b.prefix(64))
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            previous = current
        }
        return previous[b.count]
    }
}
