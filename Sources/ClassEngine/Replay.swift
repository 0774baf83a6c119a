// Replaying a recording, and exporting the class as it was actually run.

import ClassPlan
import Foundation

public struct ReplayItem: Sendable, Equatable {
    /// When to send the command, in wall-clock ms from the start of the replay (already scaled).
    public var offsetMs: Int64
    /// The command's instant in recording time; feed this to the engine as `at`.
    public var at: Int64
    public var command: EngineCommand
}

/// Turns a recording into the instructor's commands with their timing.
///
/// Only commands are replayed: auto-advances happen again by themselves because the engine
/// runs on recording time. A replayer at speed `s` runs its engine clock as
/// `recording.startedAt + wallElapsed * s` and sends each item at `offsetMs`, so pauses,
/// skips and extensions land exactly where they did in the class.
public enum ReplaySchedule {
    public static let speeds: ClosedRange<Double> = 0.1...100

    public static func items(for recording: Recording, speed: Double = 1) -> [ReplayItem] {
        let factor = speed.isFinite ? min(max(speed, speeds.lowerBound), speeds.upperBound) : 1
        return recording.events.compactMap { event in
            guard event.kind == .command, let command = event.command else { return nil }
            let offset = Double(max(0, event.at &- recording.startedAt)) / factor
            return ReplayItem(offsetMs: Int64(offset.rounded()), at: event.at, command: command)
        }
    }

    /// Runs the recording through a fresh engine; returns every snapshot in order and the
    /// instant the recording stops (its last event).
    public static func snapshots(of recording: Recording) -> (snapshots: [Snapshot], endedAt: Int64) {
        var engine = ClassEngine(plan: recording.plan, steps: recording.steps)
        var snapshots: [Snapshot] = []
        func tick(to instant: Int64) {
            while let deadline = engine.nextDeadline, deadline <= instant,
                  let snapshot = engine.tick(now: deadline) {
                snapshots.append(snapshot)
            }
        }
        for item in items(for: recording) {
            tick(to: item.at)
            // Rejected commands were never recorded by a correct writer; skip rather than fail.
            if case .success(let snapshot) = engine.apply(item.command, at: item.at) { snapshots.append(snapshot) }
        }
        let endedAt = recording.events.map(\.at).max() ?? recording.startedAt
        tick(to: endedAt)
        return (snapshots, endedAt)
    }
}

public enum PlanExport {
    /// Steps that ran for less than this were skipped, not run.
    static let minimumRunMs: Int64 = 1000

    /// The class as actually run, as a plan file: one segment per step run (skipped steps left
    /// out, extended or cut steps at their real length, distance steps with the time they took
    /// as their pace, a restarted step counted once). If nothing ran, the plan as written.
    public static func yaml(from recording: Recording) -> String {
        let runs = stepRuns(in: recording)
        let date = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(recording.startedAt) / 1000))
        var plan = recording.plan
        plan.segments = runs.map { segment(for: $0.step, ranMs: $0.ranMs, in: recording.plan) }
        plan.notes = "As run in class \(recording.classCode) on \(date): skipped steps left out, times as measured."
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

    /// Each step entry that counted, with its running time (pauses excluded).
    static func stepRuns(in recording: Recording) -> [(step: Step, ranMs: Int64)] {
        let (snapshots, endedAt) = ReplaySchedule.snapshots(of: recording)
        var runs: [(step: Step, ranMs: Int64)] = []
        var open: Snapshot?  // latest snapshot of the step run in progress
        func close(_ run: Snapshot, at instant: Int64) {
            guard let step = run.current, let start = run.stepStartedAt else { return }
            let ran = (run.pausedAt ?? instant) &- start
            if ran >= minimumRunMs { runs.append((step, ran)) }
        }
        for snapshot in snapshots {
            if let run = open, snapshot.stepRun != run.stepRun || snapshot.status == .finished {
                // A restart replaces the attempt it interrupted.
                if snapshot.stepIndex != run.stepIndex { close(run, at: snapshot.at) }
            }
            open = snapshot.current == nil ? nil : snapshot
        }
        if let run = open { close(run, at: endedAt) }
        return runs
    }

    private static func segment(for step: Step, ranMs: Int64, in plan: ClassPlan) -> Segment {
        let source = plan.segments.indices.contains(step.segmentIndex) ? plan.segments[step.segmentIndex] : nil
        let seconds = Int64((Double(ranMs) / 1000).rounded()) * 1000
        var title = String(step.title.prefix(180))  // room for the round suffix within the 200-character limit
        if step.rounds > 1, !step.isRestBetweenRounds { title += " (round \(step.round) of \(step.rounds))" }
        if step.isRestBetweenRounds { title = "Rest after round \(step.round)" }
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
