// classctl: the command instructors and operators type. Thin: argument parsing,
// configuration, printing, signals; the work is in the library targets.
import ArgumentParser
import Foundation

@main
struct Classctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classctl",
        abstract: "Run live group classes of backward (retro) running, synchronised to every participant's phone.",
        discussion: """
            Start a class with `classctl start` (the built-in first backward-walking class on port 8080),
            or `classctl start PLAN.yaml`. Participants open the printed join link; you drive the class
            from the instructor link.
            """,
        subcommands: [Start.self, Serve.self, Validate.self, Show.self, New.self, Export.self, Replay.self, Cert.self, QR.self])

    /// Like ArgumentParser's main, but usage errors exit 2 (the convention of `validate` and
    /// most Unix tools) instead of 64.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code.rawValue == 64 {
                let message = fullMessage(for: error)
                FileHandle.standardError.write(Data((message + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
