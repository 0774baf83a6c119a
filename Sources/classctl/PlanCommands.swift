// Plan subcommands: validate, show, new, export. Thin wrappers over ClassPlan and ClassEngine;
// the root command (main.swift) registers them.
//
// Exit codes: 0 success (warnings allowed), 1 invalid plan or unreadable recording,
// 2 usage problem (no files given, file missing or unreadable, output exists).

import ArgumentParser
import ClassCluster
import ClassEngine
import ClassPlan
import Foundation

/// Diagnostics and errors go to stderr so stdout stays clean for YAML and tables.
private func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// A plan from a path, or a ready-made class by name ("knee-rehab") when no such file exists.
private func loadPlan(_ path: String) -> (plan: ClassPlan?, diagnostics: [Diagnostic])? {
    if !FileManager.default.fileExists(atPath: path), let builtin = BuiltinPlans.all[path] {
        return (builtin, [])
    }
    guard FileManager.default.isReadableFile(atPath: path) else { return nil }
    return PlanLoader.load(contentsOf: URL(fileURLWithPath: path))
}

private func writeOutput(_ text: String, to path: String?, force: Bool) throws {
    guard let path else {
        print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
        return
    }
    if !force, FileManager.default.fileExists(atPath: path) {
        printError("\(path) already exists; use --force to overwrite it")
        throw ExitCode(2)
    }
    do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        printError("cannot write \(path): \((error as NSError).localizedDescription)")
        throw ExitCode(2)
    }
    printError("wrote \(path)")
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check class plan files and report every problem with its line and column.",
        discussion: "Exit status: 0 all valid (warnings allowed), 1 some plan invalid, 2 no file given or a file unreadable.")

    @Argument(help: "Plan files (YAML) to check.")
    var files: [String] = []

    func run() throws {
        guard !files.isEmpty else {
            printError("usage: classctl validate FILE...")
            throw ExitCode(2)
        }
        var valid = 0, invalid = 0, unreadable = 0, errors = 0, warnings = 0
        for file in files {
            guard let (plan, diagnostics) = loadPlan(file) else {
                printError("\(file): error: cannot read the file (missing or no permission)")
                unreadable += 1
                continue
            }
            diagnostics.forEach { print($0.formatted) }
            errors += diagnostics.errors.count
            warnings += diagnostics.warnings.count
            if plan == nil { invalid += 1 } else { valid += 1 }
        }
        var summary = "\(files.count) file\(files.count == 1 ? "" : "s"): \(valid) valid, \(invalid) invalid"
        if unreadable > 0 { summary += ", \(unreadable) unreadable" }
        summary += " (\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s"))"
        print(summary)
        if unreadable > 0 { throw ExitCode(2) }
        if invalid > 0 { throw ExitCode(1) }
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a plan as a table with its total time and distance.",
        discussion: "FILE may also be the name of a ready-made class: \(BuiltinPlans.names.joined(separator: ", ")).")

    @Argument(help: "Plan file, or a ready-made class name.")
    var file: String

    func run() throws {
        guard let (plan, diagnostics) = loadPlan(file) else {
            printError("\(file): error: cannot read the file (missing or no permission)")
            throw ExitCode(2)
        }
        diagnostics.forEach { printError($0.formatted) }
        guard let plan else { throw ExitCode(1) }
        print(PlanTable.render(plan), terminator: "")
    }
}

struct New: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a new plan to start from, based on the ready-made class for a goal.")

    @Option(help: "rehab, fitness, athletic, senior or custom.")
    var goal: String

    @Option(help: "Target length in minutes (\(PlanTemplates.minutesRange.lowerBound)-\(PlanTemplates.minutesRange.upperBound)).")
    var minutes: Int?

    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.")
    var output: String?

    @Flag(help: "Overwrite the output file if it exists.")
    var force = false

    func validate() throws {
        guard Goal(rawValue: goal.lowercased()) != nil else {
            throw ValidationError("goal '\(goal)' is not one of \(Goal.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let minutes, !PlanTemplates.minutesRange.contains(minutes) {
            throw ValidationError("--minutes must be from \(PlanTemplates.minutesRange.lowerBound) to \(PlanTemplates.minutesRange.upperBound)")
        }
    }

    func run() throws {
        let chosen = Goal(rawValue: goal.lowercased()) ?? .custom
        try writeOutput(PlanTemplates.make(goal: chosen, minutes: minutes), to: output, force: force)
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn a class recording into a plan file of the class as it was actually run.")

    @Argument(help: "Recording file (.jsonl) written by 'classctl start', or a class in a cluster's Redis: redis://[:pw@]host:port/db#CODE (or CODE with --redis).")
    var recording: String

    @Option(name: .customLong("redis"), help: "Read the class CODE (the argument) from this Redis (a `serve --redis` cluster).")
    var redis: String?

    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.")
    var output: String?

    @Flag(help: "Overwrite the output file if it exists.")
    var force = false

    func run() throws {
        let fromRedis = redis != nil || recording.hasPrefix("redis://")
        guard fromRedis || FileManager.default.isReadableFile(atPath: recording) else {
            printError("\(recording): error: cannot read the file (missing or no permission)")
            throw ExitCode(2)
        }
        let loaded: Recording
        do {
            if let redis {
                loaded = try RedisRecording.read(url: redis, code: recording)
            } else if fromRedis {
                loaded = try RedisRecording.read(url: recording)
            } else {
                loaded = try RecordingReader.read(URL(fileURLWithPath: recording))
            }
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        loaded.warnings.forEach { printError("warning: \($0)") }
        try writeOutput(PlanExport.yaml(from: loaded), to: output, force: force)
    }
}
