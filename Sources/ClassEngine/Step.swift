import ClassPlan

/// One thing the whole class does at once: a plan segment's round, or the rest between rounds.
///
/// The one shape of a step: the plan expands into it, the engine runs it, the wire carries its
/// Codable form (`welcome.class.steps`, docs/protocol.md) and the recording stores the same form
/// (docs/timeline.md). A new field goes here once; a test fails until the recording format
/// version is bumped with it (RecordingFormatTests).
public struct Step: Sendable, Equatable {
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
    /// Treadmill belt settings as people read them ("1.8 mph", "6%").
    public var speed: String?
    public var incline: String?
    public var cues: [Cue]
    public var isRestBetweenRounds: Bool

    public init(index: Int, segmentIndex: Int, round: Int, rounds: Int, kind: SegmentKind, title: String,
                durationMs: Int64? = nil, distanceMeters: Double? = nil, speed: String? = nil, incline: String? = nil,
                cues: [Cue] = [], isRestBetweenRounds: Bool = false) {
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

/// Every key always present (null when absent), so the wire and the recording have one fixed shape.
extension Step: Codable {
    enum CodingKeys: String, CodingKey {
        case index, segmentIndex = "segment", round, rounds, kind, title, durationMs, distanceMeters
        case speed, incline, cues, isRestBetweenRounds = "isRest"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(segmentIndex, forKey: .segmentIndex)
        try c.encode(round, forKey: .round)
        try c.encode(rounds, forKey: .rounds)
        try c.encode(kind, forKey: .kind)
        try c.encode(title, forKey: .title)
        try c.encode(durationMs, forKey: .durationMs)
        try c.encode(distanceMeters, forKey: .distanceMeters)
        try c.encode(speed, forKey: .speed)
        try c.encode(incline, forKey: .incline)
        try c.encode(cues, forKey: .cues)
        try c.encode(isRestBetweenRounds, forKey: .isRestBetweenRounds)
    }
}

public enum Expansion {
    /// Rounds expanded in order: walk x4 with rest 30s -> walk, rest, walk, rest, walk, rest, walk
    /// (`Segment.stepCount` steps per segment).
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
                    cues: segment.cues))
                if round < rounds, let rest = segment.restMs {
                    steps.append(Step(index: steps.count, segmentIndex: segmentIndex, round: round, rounds: rounds,
                                      kind: .rest, title: "Rest", durationMs: rest, isRestBetweenRounds: true))
                }
            }
        }
        return steps
    }
}
