import ClassPlan

/// One thing the whole class does at once: a plan segment's round, or the rest between rounds.
public struct Step: Sendable, Codable, Equatable {
    public var index: Int
    public var segmentIndex: Int
    /// 1-based round of the segment this step belongs to (the rest after round 2 has round 2).
    public var round: Int
    public var rounds: Int
    public var kind: SegmentKind
    public var title: String
    /// nil for distance steps: they end when the instructor (or the done share) says so.
    public var durationMs: Int64?
    public var distanceMeters: Double?
    public var speed: String?
    public var incline: String?
    public var cues: [Cue]
    public var isRestBetweenRounds: Bool

    public init(index: Int, segmentIndex: Int, round: Int, rounds: Int, kind: SegmentKind, title: String,
                durationMs: Int64?, distanceMeters: Double?, speed: String?, incline: String?,
                cues: [Cue], isRestBetweenRounds: Bool) {
        self.index = index
        self.segmentIndex = segmentIndex
        self.round = round
        self.rounds = rounds
        self.kind = kind
        self.title = title
        self.durationMs = durationMs
        self.distanceMeters = distanceMeters
        self.speed = speed
        self.incline = incline
        self.cues = cues
        self.isRestBetweenRounds = isRestBetweenRounds
    }

    public var isTimed: Bool { durationMs != nil }
}

public enum Expansion {
    /// Rounds expanded in order: walk x4 with rest 30s -> walk, rest, walk, rest, walk, rest, walk.
    public static func steps(for plan: ClassPlan) -> [Step] {
        var steps: [Step] = []
        for (segmentIndex, segment) in plan.segments.enumerated() {
            let rounds = max(segment.rounds, 1)
            for round in 1...rounds {
                steps.append(Step(
                    index: steps.count, segmentIndex: segmentIndex, round: round, rounds: rounds,
                    kind: segment.kind, title: segment.title,
                    durationMs: segment.durationMs, distanceMeters: segment.distanceMeters,
                    speed: segment.speed?.text,
                    incline: segment.inclinePercent.map { Quantity.formatNumber($0) + "%" },
                    cues: segment.cues, isRestBetweenRounds: false))
                if round < rounds, let rest = segment.restMs {
                    steps.append(Step(
                        index: steps.count, segmentIndex: segmentIndex, round: round, rounds: rounds,
                        kind: .rest, title: "Rest", durationMs: rest, distanceMeters: nil,
                        speed: nil, incline: nil, cues: [], isRestBetweenRounds: true))
                }
            }
        }
        return steps
    }
}
