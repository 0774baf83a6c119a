// Warnings drawn from the backward-running guidance (docs/timeline.md lists them):
// walk before you jog, short warm-up walks of 20-30 m, 4-6 rounds or sets, treadmill at
// 1.5-2 mph on a 5-10% incline, sprints not for beginners, end with a cool-down.
// A plan with warnings still runs; they tell the coach where it leaves the guidance.

public enum PlanAdvice {
    public struct Advice: Sendable, Equatable {
        /// Plan path the warning is about, e.g. "segments[3].incline".
        public var path: String
        public var message: String
    }

    static let maxIncline = 10.0
    static let cautiousMaxMph = 2.0
    static let warmUpWalkMeters = 10.0...60.0
    static let maxRounds = 6
    static let maxAgilityRounds = 8

    public static func warnings(for plan: ClassPlan) -> [Advice] {
        var advice: [Advice] = []
        func warn(_ path: String, _ message: String) { advice.append(Advice(path: path, message: message)) }

        if plan.safety.isEmpty {
            warn("safety", "no safety notes: add at least one precaution participants read before the start")
        }

        var walkedYet = false
        let firstFast = plan.segments.firstIndex { $0.kind.isFastMovement }
        for (index, segment) in plan.segments.enumerated() {
            let path = "segments[\(index)]"
            let kind = segment.kind

            if kind == .walk || kind == .treadmill { walkedYet = true }
            if kind.isFastMovement, !walkedYet {
                warn("\(path).kind", "\(kind.rawValue) comes before any walking: start with a few rounds of backward walking as a warm-up")
                walkedYet = true  // one warning is enough
            }
            if kind == .sprint, plan.level == .beginner {
                warn("\(path).kind", "sprints are not for beginners: progress from walking to light jogging first")
            }
            if kind == .sprint || kind == .agility, plan.goal == .rehab || plan.goal == .senior {
                warn("\(path).kind", "\(kind.rawValue) does not suit a \(plan.goal.rawValue) class: keep to walking and light jogging")
            }

            if let incline = segment.inclinePercent, incline > maxIncline {
                warn("\(path).incline", "incline \(Quantity.formatNumber(incline))% is steeper than the 5-10% suggested for backward treadmill work")
            }
            if let speed = segment.speed, speed.mph > cautiousMaxMph + 0.005 {
                if plan.level == .beginner {
                    warn("\(path).speed", "speed \(speed.text) is above the 1.5-2 mph suggested for beginners: start slowly")
                } else if kind == .treadmill, plan.goal == .rehab || plan.goal == .senior {
                    warn("\(path).speed", "speed \(speed.text) is above the 1.5-2 mph suggested for a \(plan.goal.rawValue) class")
                }
            }

            if kind == .walk, let meters = segment.distanceMeters, let firstFast, index < firstFast,
               !warmUpWalkMeters.contains(meters) {
                warn("\(path).distance", "a \(Quantity.formatDistance(meters)) warm-up walk is far from the 20-30m usually suggested")
            }
            let roundLimit = kind == .agility ? maxAgilityRounds : maxRounds
            if kind == .walk || kind == .jog || kind == .sprint || kind == .agility, segment.rounds > roundLimit {
                warn("\(path).rounds", "\(segment.rounds) rounds is more than the guidance suggests (up to \(roundLimit)); build up over several sessions")
            }
        }

        if let last = plan.segments.indices.last, plan.segments[last].kind != .cooldown {
            warn("segments[\(last)].kind", "the class does not end with a cooldown: finish with a few minutes of easy backward walking")
        }
        return advice
    }
}
