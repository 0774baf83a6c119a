// The class state machine. Pure: time comes in as plain Int64 instants (server ms since the
// Unix epoch) so tests drive it with any clock and the live layer with the real one.
//
// Rules (docs/timeline.md, "Running a class"):
// - idle --start--> running on step 0; timed steps end by themselves (tick), distance steps on `next`.
// - pause freezes elapsed time; resume shifts the step's start and end by the paused span.
// - next/previous/restart/jump while paused land on the new step still paused, at elapsed 0.
// - next on the last step and `end` from any state finish the class; finished is final.
// - Every change bumps `seq` by exactly one; a failed command changes nothing.
// - Time never runs backward: a command whose `at` is earlier than the last change is applied
//   at the last change instant (a late or reordered message cannot rewrite what phones showed).
// - Before a command, steps that ended by `at` advance first (exactly as tick would), so a
//   command is always applied to the step that is really current at its instant.

import ClassPlan

public enum EngineStatus: String, Sendable, Codable {
    case idle, running, paused, finished
}

public enum EngineCommand: Sendable, Equatable {
    case start, pause, resume, next, previous, restart
    case extend(seconds: Int)
    case jump(step: Int)
    case end

    /// Longest single extension; more is almost certainly a typo (seconds vs minutes).
    public static let maxExtendSeconds = 3600

    public var name: String {
        switch self {
        case .start: return "start"
        case .pause: return "pause"
        case .resume: return "resume"
        case .next: return "next"
        case .previous: return "previous"
        case .restart: return "restart"
        case .extend: return "extend"
        case .jump: return "jump"
        case .end: return "end"
        }
    }
}

/// Flat JSON: {"type":"extend","seconds":30}, {"type":"jump","step":4}, {"type":"next"}.
extension EngineCommand: Codable {
    private enum CodingKeys: String, CodingKey { case type, seconds, step }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "start": self = .start
        case "pause": self = .pause
        case "resume": self = .resume
        case "next": self = .next
        case "previous": self = .previous
        case "restart", "restartStep": self = .restart   // "restartStep": recordings of format 1
        case "extend": self = .extend(seconds: try container.decode(Int.self, forKey: .seconds))
        case "jump": self = .jump(step: try container.decode(Int.self, forKey: .step))
        case "end": self = .end
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: container,
                                                   debugDescription: "unknown command '\(type)'")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .type)
        switch self {
        case .extend(let seconds): try container.encode(seconds, forKey: .seconds)
        case .jump(let step): try container.encode(step, forKey: .step)
        default: break
        }
    }
}

public struct EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    public var command: EngineCommand
    public var message: String

    public var description: String { "\(command.name): \(message)" }
}

/// Everything a phone needs to draw the class screen with no history.
public struct Snapshot: Sendable, Codable, Equatable {
    public var seq: Int
    public var status: EngineStatus
    /// Server instant at which this state took effect.
    public var at: Int64
    public var stepIndex: Int?
    public var stepCount: Int
    /// Counts every entry into a step, restarts included: phones reset their "done" tap when it changes.
    public var stepRun: Int
    /// Adjusted for pauses so that elapsed = (pausedAt ?? now) - stepStartedAt.
    public var stepStartedAt: Int64?
    /// nil for distance steps; otherwise start + duration + extensions.
    public var stepEndsAt: Int64?
    public var pausedAt: Int64?
    public var classStartedAt: Int64?
    public var finishedAt: Int64?
    public var current: Step?
    /// The step after the current one (before the start: the first step).
    public var next: Step?

    /// Time into the current step at `now` (0 before its start, frozen while paused).
    public func elapsedMs(at now: Int64) -> Int64? {
        guard let start = stepStartedAt else { return nil }
        return max(0, (pausedAt ?? now) &- start)
    }

    /// Time left in a timed step at `now` (frozen while paused); nil for distance steps.
    public func remainingMs(at now: Int64) -> Int64? {
        guard let end = stepEndsAt, let start = stepStartedAt else { return nil }
        return max(0, end &- max(pausedAt ?? now, start))
    }
}

public struct ClassEngine: Sendable {
    public let plan: ClassPlan
    public let steps: [Step]
    public private(set) var snapshot: Snapshot

    public init(plan: ClassPlan) {
        self.init(plan: plan, steps: Expansion.steps(for: plan))
    }

    /// An engine over steps already expanded (a recording stores the steps it ran).
    public init(plan: ClassPlan, steps: [Step]) {
        self.plan = plan
        self.steps = steps
        self.snapshot = Snapshot(seq: 0, status: .idle, at: 0, stepIndex: nil, stepCount: steps.count, stepRun: 0,
                                 stepStartedAt: nil, stepEndsAt: nil, pausedAt: nil, classStartedAt: nil,
                                 finishedAt: nil, current: nil, next: steps.first)
    }

    /// The next instant at which a timed step ends by itself (nil when paused/idle/finished/distance step).
    public var nextDeadline: Int64? {
        snapshot.status == .running ? snapshot.stepEndsAt : nil
    }

    /// Advances timed steps whose end is <= now, each new step starting exactly at the previous
    /// end instant (not at `now`), so a stalled timer does not stretch the class.
    public mutating func tick(now: Int64) -> Snapshot? {
        advanceDueSteps(until: now) ? snapshot : nil
    }

    /// Applies a command effective at `at`; on error nothing changes (see the rules at the top).
    public mutating func apply(_ command: EngineCommand, at: Int64) -> Result<Snapshot, EngineError> {
        var draft = self
        draft.advanceDueSteps(until: at)
        let time = max(at, draft.snapshot.at)
        if let message = draft.perform(command, at: time) {
            return .failure(EngineError(command: command, message: message))
        }
        draft.snapshot.seq += 1
        draft.snapshot.at = time
        self = draft
        return .success(snapshot)
    }

    // MARK: Transitions

    /// Returns an error message, or nil after changing the state.
    private mutating func perform(_ command: EngineCommand, at time: Int64) -> String? {
        let status = snapshot.status
        if status == .finished {
            return command == .end ? "the class has already finished" : "the class has finished; start a new class to run it again"
        }
        let paused = status == .paused
        switch command {
        case .start:
            guard status == .idle else { return "the class is already running" }
            guard !steps.isEmpty else { return "the plan has no steps" }
            snapshot.classStartedAt = time
            enter(0, at: time, paused: false)

        case .pause:
            guard status == .running else { return status == .idle ? notStarted : "the class is already paused" }
            snapshot.status = .paused
            snapshot.pausedAt = time

        case .resume:
            guard paused, let pausedAt = snapshot.pausedAt else {
                return status == .idle ? notStarted : "the class is not paused"
            }
            let span = time &- pausedAt
            snapshot.stepStartedAt = snapshot.stepStartedAt.map { $0 &+ span }
            snapshot.stepEndsAt = snapshot.stepEndsAt.map { $0 &+ span }
            snapshot.pausedAt = nil
            snapshot.status = .running

        case .next:
            guard let index = snapshot.stepIndex else { return notStarted }
            if index + 1 < steps.count { enter(index + 1, at: time, paused: paused) } else { finish(at: time) }

        case .previous:
            guard let index = snapshot.stepIndex else { return notStarted }
            enter(max(index - 1, 0), at: time, paused: paused)

        case .restart:
            guard let index = snapshot.stepIndex else { return notStarted }
            enter(index, at: time, paused: paused)

        case .extend(let seconds):
            guard let index = snapshot.stepIndex else { return notStarted }
            guard (1...EngineCommand.maxExtendSeconds).contains(seconds) else {
                return "extend by 1 to \(EngineCommand.maxExtendSeconds) seconds, not \(seconds)"
            }
            guard let end = snapshot.stepEndsAt else {
                return "step \(index + 1) '\(steps[index].title)' is a distance step with no clock; use next to move on"
            }
            snapshot.stepEndsAt = end &+ Int64(seconds) * 1000

        case .jump(let target):
            guard steps.indices.contains(target) else {
                return steps.isEmpty ? "the plan has no steps" : "there is no step \(target); steps are 0 to \(steps.count - 1)"
            }
            if status == .idle { snapshot.classStartedAt = time }
            enter(target, at: time, paused: paused)

        case .end:
            finish(at: time)
        }
        return nil
    }

    private var notStarted: String { "the class has not started yet" }

    private mutating func enter(_ index: Int, at time: Int64, paused: Bool) {
        let step = steps[index]
        snapshot.status = paused ? .paused : .running
        snapshot.stepIndex = index
        snapshot.stepRun += 1
        snapshot.stepStartedAt = time
        snapshot.stepEndsAt = step.durationMs.map { time &+ $0 }
        snapshot.pausedAt = paused ? time : nil
        snapshot.current = step
        snapshot.next = index + 1 < steps.count ? steps[index + 1] : nil
    }

    private mutating func finish(at time: Int64) {
        snapshot.status = .finished
        snapshot.finishedAt = time
        snapshot.stepIndex = nil
        snapshot.stepStartedAt = nil
        snapshot.stepEndsAt = nil
        snapshot.pausedAt = nil
        snapshot.current = nil
        snapshot.next = nil
    }

    /// Auto-advance: each ended timed step is one change (seq + 1) dated at its end instant.
    @discardableResult
    private mutating func advanceDueSteps(until now: Int64) -> Bool {
        var changed = false
        while snapshot.status == .running, let end = snapshot.stepEndsAt, end <= now, let index = snapshot.stepIndex {
            if index + 1 < steps.count { enter(index + 1, at: end, paused: false) } else { finish(at: end) }
            snapshot.seq += 1
            snapshot.at = end
            changed = true
        }
        return changed
    }
}
