import ArgumentParser
import Dispatch
import Foundation
import Logging
import ClassEngine
import ClassPlan
import LiveClass

/// Sends a replay script's actions to the live session at their offsets; the script
/// (ClassEngine) holds the timing and the scaling. Owned by its own serial queue.
final class Replayer: Sendable {
    let session: ClassSession
    let script: ReplayScript
    let logger: Logger
    private let queue = DispatchQueue(label: "classctl.replay")

    init(session: ClassSession, script: ReplayScript, logger: Logger) {
        self.session = session
        self.script = script
        self.logger = logger
    }

    func start() {
        logger.info("replay: \(script.actions.count) commands and announcements at \(script.speed)x")
        let origin = DispatchTime.now()
        for action in script.actions {
            queue.asyncAfter(deadline: origin + .milliseconds(Int(action.offsetMs))) { [session] in
                switch action.what {
                case .command(let command): session.apply(command, source: "replay")
                case .announce(let text): session.broadcastAnnouncement(text)
                }
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
