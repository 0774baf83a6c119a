import ArgumentParser
import Dispatch
import Foundation
import Logging
import ClassEngine
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
        // Only instructor commands are replayed; the engine redoes timed advances itself,
        // and announcements are re-sent as they happened.
        let events = recording.events.filter { $0.kind == .command || $0.kind == .announce }
        guard let first = events.first else {
            logger.warning("replay: the recording has no commands")
            return
        }
        logger.info("replay: \(events.count) events at \(speed)x")
        for e in events {
            let offset = Double(e.at - first.at) / speed
            queue.asyncAfter(deadline: .now() + .milliseconds(Int(offset))) { [self] in
                if let c = e.command { session.apply(c, source: "replay") }
                else if let t = e.text { session.broadcastAnnouncement(t) }
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
        var start = try Start.parse([recording] + (port.map { ["--port", String($0)] } ?? []) + (host.map { ["--host", $0] } ?? [])
                                    + (recordDir.map { ["--record-dir", $0] } ?? []) + ["--speed", String(speed)])
        try start.run()
    }
}
