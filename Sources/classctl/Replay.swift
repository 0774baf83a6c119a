import ArgumentParser
import Dispatch
import Foundation
import Logging
import ClassEngine
import ClassPlan
import LiveClass

/// Re-issues a recording's commands with their original timing (scaled by `speed`).
/// Owned by its own serial queue.
final class Replayer: @unchecked Sendable {
    let session: ClassSession
    let recording: Recording
    let speed: Double
    let logger: Logger
    private let queue = DispatchQueue(label: "classctl.replay")

    init(session: ClassSession, recording: Recording, speed: Double, logger: Logger) {
        self.session = session
        self.recording = recording
        self.speed = speed > 0 ? speed : 1
        self.logger = logger
    }

    func start() {
        // Instructor commands are re-issued at their recorded offsets (the engine redoes timed
        // advances itself); announcements are re-sent at theirs.
        let commands = ReplaySchedule.items(for: recording, speed: speed)
        let origin = recording.startedAt
        logger.info("replay: \(commands.count) commands at \(speed)x")
        for item in commands {
            queue.asyncAfter(deadline: .now() + .milliseconds(Int(item.offsetMs))) { [self] in
                session.apply(item.command.scaled(by: speed), source: "replay")
            }
        }
        for e in recording.events where e.kind == .announce {
            guard let text = e.text else { continue }
            let offset = Double(e.at - origin) / speed
            queue.asyncAfter(deadline: .now() + .milliseconds(Int(offset))) { [self] in
                session.broadcastAnnouncement(text)
            }
        }
    }
}

/// `classctl replay RECORDING`: the same as `classctl start RECORDING`.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a recorded class again, with its real timing, as a live class participants can join.")
    @Argument(help: "Recording file (.jsonl).") var recording: String
    @Option(help: "Speed factor (2 = twice as fast).") var speed: Double = 1
    @Option(help: "Port (default 8080; 0 picks a free one).") var port: Int?
    @Option(help: "Address to listen on.") var host: String?
    @Option(name: .customLong("record-dir"), help: "Where the replay's own recording goes.") var recordDir: String?

    func run() throws {
        var args: [String] = [recording, "--speed", String(speed)]
        if let port { args += ["--port", String(port)] }
        if let host { args += ["--host", host] }
        if let recordDir { args += ["--record-dir", recordDir] }
        let start = try Start.parse(args)
        try start.run()
    }
}

extension ClassPlan {
    /// The plan with every time divided by `speed`, so a replay at 2x shows phones honest
    /// countdowns that really run twice as fast through the class.
    func scaled(by speed: Double) -> ClassPlan {
        guard speed > 0, speed != 1 else { return self }
        func s(_ ms: Int64?) -> Int64? { ms.map { max(1, Int64((Double($0) / speed).rounded())) } }
        var p = self
        p.segments = segments.map { seg in
            var g = seg
            g.durationMs = s(seg.durationMs)
            g.restMs = s(seg.restMs)
            g.paceMs = s(seg.paceMs)
            g.cues = seg.cues.map { Cue(atMs: Int64((Double($0.atMs) / speed).rounded()), text: $0.text) }
            return g
        }
        return p
    }
}

extension EngineCommand {
    func scaled(by speed: Double) -> EngineCommand {
        if case .extend(let seconds) = self, speed > 0, speed != 1 {
            return .extend(seconds: max(1, Int((Double(seconds) / speed).rounded())))
        }
        return self
    }
}
