// The class plan: what a coach writes in a timeline file, after parsing and validation.
// Values here are already in machine units (milliseconds, metres, km/h, percent) so the
// engine never re-parses text; the original spelling is kept only where it is shown to people.

/// What the class is for; chooses the template and some of the safety warnings.
public enum Goal: String, Sendable, Codable, CaseIterable {
    case rehab, fitness, athletic, senior, custom
}

/// Who the class is for; beginners get stricter speed warnings.
public enum Level: String, Sendable, Codable, CaseIterable {
    case beginner, intermediate, advanced
}

public enum SegmentKind: String, Sendable, Codable, CaseIterable {
    case briefing, walk, jog, sprint, agility, treadmill, rest, cooldown, custom

    /// Movement faster than a walk: the article asks for walking first.
    public var isFastMovement: Bool { self == .jog || self == .sprint || self == .agility }

    /// Kinds that cannot be measured in metres: nobody moves during them.
    public var isTimedOnly: Bool { self == .briefing || self == .rest }
}

/// Something the coach says (and phones show) at an offset into a step.
public struct Cue: Sendable, Codable, Equatable {
    public var atMs: Int64
    public var text: String

    public init(atMs: Int64, text: String) {
        self.atMs = atMs
        self.text = text
    }
}

/// A treadmill speed. The original text ("1.8mph") is what people see; `kmh` is for comparisons.
public struct Speed: Sendable, Codable, Equatable {
    public var text: String
    public var kmh: Double

    public init(text: String, kmh: Double) {
        self.text = text
        self.kmh = kmh
    }

    public static let kmhPerMph = 1.609344
    public var mph: Double { kmh / Speed.kmhPerMph }
}

public struct Segment: Sendable, Codable, Equatable {
    public var id: String?
    public var kind: SegmentKind
    public var title: String
    /// Exactly one of `durationMs` and `distanceMeters` is set in a validated plan.
    public var durationMs: Int64?
    public var distanceMeters: Double?
    /// Expected time to cover the whole distance; only for distance segments, only for estimates.
    public var paceMs: Int64?
    public var rounds: Int
    /// Rest between rounds (not after the last one).
    public var restMs: Int64?
    public var speed: Speed?
    public var inclinePercent: Double?
    public var cues: [Cue]

    public init(id: String? = nil, kind: SegmentKind, title: String,
                durationMs: Int64? = nil, distanceMeters: Double? = nil, paceMs: Int64? = nil,
                rounds: Int = 1, restMs: Int64? = nil, speed: Speed? = nil,
                inclinePercent: Double? = nil, cues: [Cue] = []) {
        self.id = id
        self.kind = kind
        self.title = title
        self.durationMs = durationMs
        self.distanceMeters = distanceMeters
        self.paceMs = paceMs
        self.rounds = rounds
        self.restMs = restMs
        self.speed = speed
        self.inclinePercent = inclinePercent
        self.cues = cues
    }

    /// Steps this segment expands into: each round, and a rest between rounds when it has one
    /// (the rule the validator's step limit and the engine's expansion share).
    public var stepCount: Int { restMs == nil ? max(rounds, 1) : max(rounds, 1) * 2 - 1 }

    /// Time of one round: the duration, or the pace of a distance round (nil if unknown).
    public var roundEstimateMs: Int64? { durationMs ?? paceMs }
}

/// The calls a gym timer makes on timed steps; each can be switched off for a plan (and on a phone).
public struct TimerCalls: Sendable, Codable, Equatable {
    /// 3-2-1 with beeps before a timed work step begins.
    public var leadIn: Bool
    /// "Halfway" on timed steps of 20 s or more.
    public var halfway: Bool
    /// "Ten seconds" on timed steps of 20 s or more.
    public var lastTen: Bool

    public init(leadIn: Bool = true, halfway: Bool = true, lastTen: Bool = true) {
        self.leadIn = leadIn
        self.halfway = halfway
        self.lastTen = lastTen
    }
}

public struct ClassPlan: Sendable, Codable, Equatable {
    public var title: String
    public var goal: Goal
    public var notes: String?
    /// Precautions shown to participants before the class starts.
    public var safety: [String]
    public var level: Level?
    /// For distance steps: the share (0 < x <= 1) of participants who must tap "done" to move on.
    public var advanceWhenDone: Double?
    /// Ready-made announcements the console offers as one-tap buttons ("Water break").
    public var announcements: [String]?
    /// Timer calls; nil means all on.
    public var calls: TimerCalls?
    public var segments: [Segment]

    public init(title: String, goal: Goal = .custom, notes: String? = nil, safety: [String] = [],
                level: Level? = nil, advanceWhenDone: Double? = nil, announcements: [String]? = nil,
                calls: TimerCalls? = nil, segments: [Segment]) {
        self.title = title
        self.goal = goal
        self.notes = notes
        self.safety = safety
        self.level = level
        self.advanceWhenDone = advanceWhenDone
        self.announcements = announcements
        self.calls = calls
        self.segments = segments
    }
}

/// Totals shown by `classctl show` and the instructor page.
public struct PlanTotals: Sendable, Equatable {
    /// Sum of all timed parts plus the paces of distance parts that have one.
    public var estimatedMs: Int64
    public var distanceMeters: Double
    /// Distance rounds with no `pace`: their time is not in `estimatedMs`.
    public var untimedRounds: Int

    public init(_ plan: ClassPlan) {
        var ms: Int64 = 0
        var meters = 0.0
        var untimed = 0
        for segment in plan.segments {
            let rounds = Int64(segment.rounds)
            if let each = segment.roundEstimateMs {
                ms &+= each &* rounds
            } else {
                untimed += segment.rounds
            }
            ms &+= (segment.restMs ?? 0) &* (rounds - 1)
            meters += (segment.distanceMeters ?? 0) * Double(segment.rounds)
        }
        estimatedMs = ms
        distanceMeters = meters
        untimedRounds = untimed
    }
}
