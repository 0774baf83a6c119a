// Resuming a class after a crash or a restart: the engine's state rebuilt from the recording,
// in server time, as if the server had never stopped. Pure: the caller passes `now`.

import ClassPlan

public struct ResumedClass: Sendable {
    /// The engine as it stands at `now`.
    public var engine: ClassEngine
    /// Timed steps that ended while the server was down, in order: each one is an auto-advance
    /// at its own deadline (not at `now`), to be appended to the recording.
    public var missedAdvances: [Snapshot]
    /// Stop signals raised and neither acknowledged nor taken back.
    public var openStopSignals: [RecordedEvent]
    /// Every announcement sent, in order (phones that were away see the recent ones).
    public var announcements: [RecordedEvent] = []
}

public enum Resume {
    /// Whether the recording's class ended (an `end`, `next` past the last step, or a
    /// `finished` event). A finished class is never resumed.
    public static func isFinished(_ recording: Recording) -> Bool {
        if recording.events.contains(where: { $0.kind == .finished }) { return true }
        return rebuild(recording, now: nil).engine.snapshot.status == .finished
    }

    /// Replays the recorded commands at their instants (timed steps ending by themselves in
    /// between, exactly as the live engine did), then lets time run on to `now`.
    public static func rebuild(_ recording: Recording, now: Int64?) -> ResumedClass {
        var engine = ClassEngine(plan: recording.plan, steps: recording.steps)
        func advance(to instant: Int64, collect: inout [Snapshot]) {
            while let deadline = engine.nextDeadline, deadline <= instant, let s = engine.tick(now: deadline) {
                collect.append(s)
            }
        }
        var ignored: [Snapshot] = []
        var open: [Int64: RecordedEvent] = [:]
        var announcements: [RecordedEvent] = []
        for event in recording.events {
            switch event.kind {
            case .command:
                guard let command = event.command else { continue }
                advance(to: event.at, collect: &ignored)
                _ = engine.apply(command, at: event.at)   // a recorded command was accepted once
            case .autoAdvance:
                advance(to: event.at, collect: &ignored)
            case .stopSignal:
                if let client = event.client { open[client] = event }
            case .stopWithdrawn, .stopAcknowledged:
                if let client = event.client { open[client] = nil }
            case .announce:
                announcements.append(event)
            case .finished, .suspended, .resumed:
                break
            }
        }
        var missed: [Snapshot] = []
        if let now { advance(to: now, collect: &missed) }
        return ResumedClass(engine: engine, missedAdvances: missed,
                            openStopSignals: open.values.sorted { ($0.at, $0.client ?? 0) < ($1.at, $1.client ?? 0) },
                            announcements: announcements)
    }
}
