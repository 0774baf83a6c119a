// Finding the unfinished class that `classctl start` should pick up again, and the private
// file that keeps its instructor token beside the recording.
import Foundation
import Logging
import ClassEngine
import ClassPlan

struct ResumeCandidate {
    let url: URL
    let recording: Recording
}

enum Resumption {
    /// A class whose last sign of life is older than this is left alone (a new class starts).
    static let maxIdleMs: Int64 = 12 * 3_600_000

    struct Found {
        var candidate: ResumeCandidate?
        /// One line each about unfinished recordings that were not picked, and why.
        var notes: [String] = []
    }

    /// The newest unfinished recording in `directory` of the same plan (and code, when one is
    /// given). A recording that is corrupt before its last line stops the start: a class must
    /// not be started over it silently.
    static func find(in directory: URL, plan: ClassPlan, code: String?, now: Int64) throws -> Found {
        var found = Found()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var best: ResumeCandidate?
        for name in names.sorted() where name.hasPrefix("class-") && name.hasSuffix(".jsonl") {
            let url = directory.appendingPathComponent(name)
            let recording: Recording
            do {
                recording = try RecordingReader.read(url)
            } catch {
                throw ResumeError(message: "\(error)\n  The unfinished class in this recording cannot be resumed. Move the file away, or start a new class with --fresh.")
            }
            guard !Resume.isFinished(recording) else { continue }
            let lastSign = max(recording.startedAt, recording.events.map(\.at).max() ?? 0)
            if now - lastSign > maxIdleMs {
                continue   // an old class nobody finished: not what this start means
            }
            if let code, recording.classCode != code {
                found.notes.append("an unfinished class \(recording.classCode) is in \(url.path) (not resumed: another code)")
                continue
            }
            guard recording.plan == plan else {
                found.notes.append("an unfinished class \(recording.classCode) is in \(url.path) (not resumed: another plan)")
                continue
            }
            if let b = best, b.recording.startedAt >= recording.startedAt {
                found.notes.append("an unfinished class \(recording.classCode) is in \(url.path) (not resumed: a newer one is)")
                continue
            }
            if let b = best { found.notes.append("an unfinished class \(b.recording.classCode) is in \(b.url.path) (not resumed: a newer one is)") }
            best = ResumeCandidate(url: url, recording: recording)
        }
        found.candidate = best
        return found
    }

    /// Every unfinished, recent recording in `directory` (a studio server resumes them all);
    /// unreadable ones are logged and left alone.
    static func unfinished(in directory: URL, now: Int64, logger: Logger) -> [ResumeCandidate] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var out: [ResumeCandidate] = []
        for name in names.sorted() where name.hasPrefix("class-") && name.hasSuffix(".jsonl") {
            let url = directory.appendingPathComponent(name)
            do {
                let recording = try RecordingReader.read(url)
                guard !Resume.isFinished(recording) else { continue }
                let lastSign = max(recording.startedAt, recording.events.map(\.at).max() ?? 0)
                guard now - lastSign <= maxIdleMs else { continue }
                for w in recording.warnings { logger.warning("resuming despite: \(w)") }
                out.append(ResumeCandidate(url: url, recording: recording))
            } catch {
                logger.error("not resumed: \(error) (move the file away once you have looked at it)")
            }
        }
        return out
    }

    /// `recordings/.class-CODE-T.jsonl.token`, readable by its owner only: lets the same command
    /// line print the same instructor link after a crash. Removed when the class finishes.
    static func tokenFile(for recording: URL) -> URL {
        recording.deletingLastPathComponent().appendingPathComponent("." + recording.lastPathComponent + ".token")
    }

    static func saveToken(_ token: String, for recording: URL) {
        let url = tokenFile(for: recording)
        _ = FileManager.default.createFile(atPath: url.path, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600])
    }

    static func loadToken(for recording: URL) -> String? {
        guard let data = FileManager.default.contents(atPath: tokenFile(for: recording).path),
              let token = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
              !token.isEmpty else { return nil }
        return token
    }

    static func removeToken(for recording: URL) {
        try? FileManager.default.removeItem(at: tokenFile(for: recording))
    }
}

struct ResumeError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
