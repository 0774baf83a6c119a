// Replaying a recording, and exporting the class as it was actually run.

import ClassPlan
import Foundation

/// One thing a replay does, at its offset from the replay's start.
public struct ReplayAction: Sendable, Equatable {
    public enum What: Sendable, Equatable {
        /// An instructor command, already scaled to the replay's speed (`extend` seconds).
        case command(EngineCommand)
        /// An announcement the instructor broadcast.
        case announce(String)
    }

    /// Wall-clock ms from the start of the replay (already scaled).
    public var offsetMs: Int64
    public var what: What

    public init(offsetMs: Int64, what: What) {
        self.offsetMs = offsetMs
        self.what = what
    }
}

/// A recording prepared to run again at `speed`: the one replay model.
///
/// Every time is divided by the speed in one place (`scale`): the plan and the steps the
/// replayed class runs (durations, rests, paces, cue offsets), the offsets of the instructor's
/// commands and announcements, and the seconds of each `extend`. Only commands are replayed:
/// auto-advances happen again by themselves because the steps are scaled with them, so pauses,
/// skips and extensions land where they did in the class. At speed 1 the plan and steps are
/// the recording's own, so phones see exactly what they saw in the class.
///
/// The live replay (`classctl replay`) sends `actions` at their offsets to a class session
/// built from `plan` and `steps`; `snapshots(from:)` runs the same script through an engine
/// without waiting, which at speed 1 from `recording.startedAt` is the class on its recorded
/// clock (what `PlanExport` reads).
public struct ReplayScript: Sendable, Equatable {
    public static let speeds: ClosedRange<Double> = 0.1...100

    /// The speed factor in `speeds` (a non-finite speed is 1, others are clamped).
    public let speed: Double
    /// The plan with every time divided by `speed`.
    public let plan: ClassPlan
    /// The recording's steps with every time divided by `speed`.
    public let steps: [Step]
    /// Commands and announcements in the order they are sent (by offset, then as recorded).
    public let actions: [ReplayAction]
    /// When the recording stops (its last event), in ms from the start of the replay.
    public let durationMs: Int64

    public init(recording: Recording, speed: Double = 1) {
        let factor = speed.isFinite ? min(max(speed, Self.speeds.lowerBound), Self.speeds.upperBound) : 1
        self.speed = factor
        func scale(_ ms: Int64) -> Int64 { Self.scale(ms, by: factor) }
        func offset(_ at: Int64) -> Int64 { scale(max(0, at &- recording.startedAt)) }

        let actions = recording.events.compactMap { event -> ReplayAction? in
            switch event.kind {
            case .command:
                return event.command.map { ReplayAction(offsetMs: offset(event.at), what: .command(Self.scale($0, by: factor))) }
            case .announce:
                return event.text.map { ReplayAction(offsetMs: offset(event.at), what: .announce($0)) }
            default:
                return nil
            }
        }
        // A command is recorded at the instant it takes effect (a lead after it was sent), so an
        // announcement written after it can be earlier; the sort is stable for equal offsets.
        self.actions = actions.enumerated().sorted { ($0.element.offsetMs, $0.offset) < ($1.element.offsetMs, $1.offset) }.map(\.element)
        self.durationMs = offset(recording.events.map(\.at).max() ?? recording.startedAt)
        self.plan = Self.scale(recording.plan, by: factor)
        self.steps = recording.steps.map { Self.scale($0, by: factor) }
    }

    /// Runs the script through a fresh engine over its steps, on a clock that starts at
    /// `origin`: every snapshot in order, and the instant the recording stops.
    public func snapshots(from origin: Int64) -> (snapshots: [Snapshot], endedAt: Int64) {
        var engine = ClassEngine(plan: plan, steps: steps)
        var snapshots: [Snapshot] = []
        func tick(to instant: Int64) {
            while let deadline = engine.nextDeadline, deadline <= instant,
                  let snapshot = engine.tick(now: deadline) {
                snapshots.append(snapshot)
            }
        }
        for action in actions {
            guard case .command(let command) = action.what else { continue }
            let at = origin &+ action.offsetMs
            tick(to: at)
            // Rejected commands were never recorded by a correct writer; skip rather than fail.
            if case .success(let snapshot) = engine.apply(command, at: at) { snapshots.append(snapshot) }
        }
        let endedAt = origin &+ durationMs
        tick(to: endedAt)
        return (snapshots, endedAt)
    }

    // MARK: Scaling (speed 1 changes nothing)

    /// `ms` divided by `speed`, to the nearest ms.
    static func scale(_ ms: Int64, by speed: Double) -> Int64 {
        speed == 1 ? ms : Int64((Double(ms) / speed).rounded())
    }

    /// A length stays at least 1 ms: a step never vanishes.
    private static func scaleLength(_ ms: Int64?, by speed: Double) -> Int64? {
        ms.map { speed == 1 ? $0 : max(1, scale($0, by: speed)) }
    }

    private static func scale(_ cues: [Cue], by speed: Double) -> [Cue] {
        speed == 1 ? cues : cues.map { Cue(atMs: scale($0.atMs, by: speed), text: $0.text) }
    }

    static func scale(_ plan: ClassPlan, by speed: Double) -> ClassPlan {
        guard speed != 1 else { return plan }
        var scaled = plan
        scaled.segments = plan.segments.map { segment in
            var s = segment
            s.durationMs = scaleLength(segment.durationMs, by: speed)
            s.restMs = scaleLength(segment.restMs, by: speed)
            s.paceMs = scaleLength(segment.paceMs, by: speed)
            s.cues = scale(segment.cues, by: speed)
            return s
        }
        return scaled
    }

    static func scale(_ step: Step, by speed: Double) -> Step {
        guard speed != 1 else { return step }
        var scaled = step
        scaled.durationMs = scaleLength(step.durationMs, by: speed)
        scaled.cues = scale(step.cues, by: speed)
        return scaled
    }

    /// An extension in seconds (the command's unit), at least 1.
    static func scale(_ command: EngineCommand, by speed: Double) -> EngineCommand {
        guard speed != 1, case .extend(let seconds) = command else { return command }
        return .extend(seconds: max(1, Int((Double(seconds) / speed).rounded())))
    }
}

public enum PlanExport {
    /// Steps left (next, previous, jump) after less than this were skipped or passed through
    /// on the way elsewhere, not run: rapid skipping must not leave fragment segments.
    static let minimumRunMs: Int64 = 5000

    /// The class as actually run, as a plan file: one segment per step run (skipped steps left
    /// out, extended or cut steps at their real length, distance steps with the time they took
    /// as their pace, a restarted step counted once). If nothing ran, the plan as written.
    public static func yaml(from recording: Recording) -> String {
        let runs = stepRuns(in: recording)
        let date = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(recording.startedAt) / 1000))
        var plan = recording.plan
        plan.segments = runs.map { segment(for: $0.step, ranMs: $0.ranMs, interrupted: $0.interrupted, in: recording.plan) }
        plan.notes = "As run in class \(recording.classCode) on \(date): skipped steps left out, times as measured."
            + (runs.last?.interrupted == true ? " The class stopped without an end (a crash or a restart) during the last step." : "")
        var header = "# Exported by classctl from recording of class \(recording.classCode) (\(date)).\n"
        if plan.segments.isEmpty {
            plan = recording.plan
            header += "# No step of this recording ran for a second or more: this is the plan as written.\n"
        }
        let stops = stopSignalNotes(recording)
        if !stops.isEmpty { plan.notes = (plan.notes.map { $0 + " " } ?? "") + stops }
        return header + PlanWriter.yaml(plan)
    }

    /// "I need to stop" signals raised during the class, for the exported notes: who, when,
    /// on which step, and whether the instructor acknowledged it.
    static func stopSignalNotes(_ recording: Recording) -> String {
        let raised = recording.events.filter { $0.kind == .stopSignal }
        guard !raised.isEmpty else { return "" }
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let lines = raised.map { e -> String in
            let who = e.name.map { "\($0)" } ?? "a participant"
            let step = e.stepIndex.flatMap { i in recording.steps.indices.contains(i) ? "step \(i + 1) (\(recording.steps[i].title))" : nil } ?? "before the start"
            let outcome = recording.events.first { $0.client == e.client && $0.at >= e.at && ($0.kind == .stopAcknowledged || $0.kind == .stopWithdrawn) }
            let how = outcome?.kind == .stopAcknowledged ? "acknowledged" : outcome?.kind == .stopWithdrawn ? "taken back" : "not acknowledged"
            return "\(who) at \(formatter.string(from: Date(timeIntervalSince1970: Double(e.at) / 1000))) UTC on \(step), \(how)"
        }
        return "Stop signals (\"I need to stop\"): " + lines.joined(separator: "; ") + "."
    }

    /// Each step entry that counted, with its running time (pauses excluded). Entries under
    /// `minimumRunMs` are left out and what remains of the same step back to back is merged
    /// (A, a glance at B, A again is one A). A class that stopped without an end keeps the step
    /// it was on, marked `interrupted`, however short its known run.
    public static func stepRuns(in recording: Recording) -> [(step: Step, ranMs: Int64, interrupted: Bool)] {
        let (snapshots, endedAt) = ReplayScript(recording: recording).snapshots(from: recording.startedAt)
        var runs: [(step: Step, ranMs: Int64, interrupted: Bool)] = []
        var open: Snapshot?  // latest snapshot of the step run in progress
        func close(_ run: Snapshot, at instant: Int64, interrupted: Bool = false) {
            guard let step = run.current, let start = run.stepStartedAt else { return }
            let ran = (run.pausedAt ?? instant) &- start
            // A timed step that ran its whole length counts, however short it is.
            let completed = step.durationMs.map { ran >= $0 } ?? false
            guard ran >= minimumRunMs || completed || interrupted else { return }
            if let last = runs.last, last.step.index == step.index {
                runs[runs.count - 1].ranMs += ran
                runs[runs.count - 1].interrupted = interrupted
            } else {
                runs.append((step, ran, interrupted))
            }
        }
        for snapshot in snapshots {
            if let run = open, snapshot.stepRun != run.stepRun || snapshot.status == .finished {
                // A restart replaces the attempt it interrupted.
                if snapshot.stepIndex != run.stepIndex { close(run, at: snapshot.at) }
            }
            open = snapshot.current == nil ? nil : snapshot
        }
        // Still on a step when the recording stops: the class was interrupted there.
        if let run = open { close(run, at: endedAt, interrupted: run.status != .finished) }
        return runs
    }

    private static func segment(for step: Step, ranMs: Int64, interrupted: Bool, in plan: ClassPlan) -> Segment {
        let source = plan.segments.indices.contains(step.segmentIndex) ? plan.segments[step.segmentIndex] : nil
        // An interrupted step's known run may be 0: it keeps at least a second, so the plan stays valid.
        let seconds = max(Int64((Double(ranMs) / 1000).rounded()), interrupted ? 1 : 0) * 1000
        var title = String(step.title.prefix(165))  // room for the round and "interrupted" suffixes within the 200-character limit
        if step.rounds > 1, !step.isRestBetweenRounds { title += " (round \(step.round) of \(step.rounds))" }
        if step.isRestBetweenRounds { title = "Rest after round \(step.round)" }
        if interrupted { title += " (interrupted)" }
        let kind: SegmentKind = step.isRestBetweenRounds ? .rest : step.kind
        if let distance = step.distanceMeters {
            return Segment(kind: kind, title: title, distanceMeters: distance, paceMs: seconds,
                           speed: source?.speed, inclinePercent: source?.inclinePercent,
                           cues: step.cues.filter { $0.atMs == 0 })
        }
        return Segment(kind: kind, title: title, durationMs: seconds,
                       speed: step.isRestBetweenRounds ? nil : source?.speed,
                       inclinePercent: step.isRestBetweenRounds ? nil : source?.inclinePercent,
                       cues: step.cues.filter { $0.atMs < seconds })
    }
}
