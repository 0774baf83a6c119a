// classctl: the command instructors and operators type. Thin: argument parsing,
// configuration, printing, signals; the work is in the library targets.
import ArgumentParser

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
        subcommands: [Start.self, Validate.self, Show.self, New.self, Export.self, Replay.self, QR.self])
}
