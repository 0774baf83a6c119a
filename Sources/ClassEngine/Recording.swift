// Recordings: an append-only JSON Lines file per class.
// Line 1 is a header (plan, class code, start instant); every later line is one RecordedEvent.
// Each line goes out in one write() and is fsync'ed before append returns, so a crash or
// kill -9 loses at most the line being written, and the reader tolerates exactly that.

import ClassPlan
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct RecordedEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// An instructor command that the engine accepted.
        case command
        /// A timed step ended by itself.
        case autoAdvance = "auto-advance"
        /// A free-text message the instructor broadcast.
        case announce
        case finished
        /// A participant's "I need to stop" (`client`, `name`), its undo, and the instructor's acknowledgement.
        case stopSignal = "stop-signal"
        case stopWithdrawn = "stop-withdrawn"
        case stopAcknowledged = "stop-acknowledged"
        /// The server stopped (SIGTERM, Ctrl-C) with the class unfinished; the next start resumes it.
        case suspended
        /// The class was picked up again from this recording (after a crash or a suspension).
        case resumed
    }

    public var at: Int64
    public var kind: Kind
    public var command: EngineCommand?
    public var text: String?
    /// Engine seq after the event.
    public var seq: Int
    public var stepIndex: Int?
    /// The participant an event is about (stop signals): the server's connection id and the
    /// display name, if they gave one.
    public var client: Int64?
    public var name: String?

    public init(at: Int64, kind: Kind, command: EngineCommand? = nil, text: String? = nil, seq: Int, stepIndex: Int? = nil,
                client: Int64? = nil, name: String? = nil) {
        self.at = at
        self.kind = kind
        self.command = command
        self.text = text
        self.seq = seq
        self.stepIndex = stepIndex
        self.client = client
        self.name = name
    }
}

/// Line 1 of a recording. The format is versioned explicitly: any change to what a recording
/// holds (this header, RecordedEvent, Step, the plan's Codable form) bumps `currentFormat`, and
/// the reader keeps reading the older ones (RecordingFormatTests enforces both).
///   classctl-recording/1  plan only; `restartStep` for the restart command
///   classctl-recording/2  plus the expanded steps the class ran; stop signals (`client`, `name`)
///   classctl-recording/3  plus a salted hash of the instructor token (never the token);
///                         `suspended` and `resumed` events
///   classctl-recording/4  the plan may carry ready-made `announcements` and timer `calls`
public struct RecordingHeader: Codable, Sendable, Equatable {
    public static let currentFormat = "classctl-recording/4"
    public static let readableFormats: Set<String> = ["classctl-recording/1", "classctl-recording/2", "classctl-recording/3", currentFormat]
    public var format: String
    public var classCode: String
    public var startedAt: Int64
    public var plan: ClassPlan
    /// The steps as run (format 2 on); a format-1 header has none and its plan is expanded.
    public var steps: [Step]?
    /// A slow salted hash of the instructor token (format 3 on; see LiveClass's TokenHash), so a
    /// resumed class accepts the same instructor link while the file stays safe to share.
    public var instructorTokenHash: String?

    public init(format: String, classCode: String, startedAt: Int64, plan: ClassPlan, steps: [Step]?, instructorTokenHash: String?) {
        self.format = format
        self.classCode = classCode
        self.startedAt = startedAt
        self.plan = plan
        self.steps = steps
        self.instructorTokenHash = instructorTokenHash
    }
}

public struct Recording: Sendable, Equatable {
    public var plan: ClassPlan
    public var steps: [Step]
    public var instructorTokenHash: String? = nil
    /// Bytes of the file up to the end of its last complete line: where appending resumes
    /// (a torn last line is cut off first).
    public var intactLength: Int = 0
    public var classCode: String
    public var startedAt: Int64
    public var events: [RecordedEvent]
    /// Problems that were tolerated (a truncated last line after a crash).
    public var warnings: [String]

    public init(plan: ClassPlan, steps: [Step], classCode: String, startedAt: Int64, events: [RecordedEvent], warnings: [String] = []) {
        self.plan = plan
        self.steps = steps
        self.classCode = classCode
        self.startedAt = startedAt
        self.events = events
        self.warnings = warnings
    }
}

public struct RecordingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public final class RecordingWriter {
    public let fileURL: URL
    /// -1 once closed.
    private var descriptor: Int32

    /// Creates `directory` if needed and a new file `class-<code>-<startedAt>.jsonl` in it,
    /// then writes and syncs the header. Throws RecordingError with the path and the system's reason.
    public init(directory: URL, plan: ClassPlan, steps: [Step], classCode: String, startedAt: Int64,
                instructorTokenHash: String? = nil) throws {
        let safeCode = String(classCode.unicodeScalars.filter { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-") }
            .map(Character.init).prefix(32))
        fileURL = directory.appendingPathComponent("class-\(safeCode.isEmpty ? "class" : safeCode)-\(startedAt).jsonl")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw RecordingError("cannot create recordings directory \(directory.path): \(Self.reason(error))")
        }
        descriptor = open(fileURL.path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw RecordingError("cannot create recording \(fileURL.path): \(String(cString: strerror(errno)))")
        }
        let header = RecordingHeader(format: RecordingHeader.currentFormat, classCode: classCode,
                                     startedAt: startedAt, plan: plan, steps: steps, instructorTokenHash: instructorTokenHash)
        do {
            try writeLine(header)
            Self.syncDirectory(directory)
        } catch {
            _ = closeDescriptor(descriptor)
            descriptor = -1
            throw error
        }
    }

    /// Goes on writing an existing recording (a resumed class): cuts a torn last line off at
    /// `recording.intactLength`, then appends.
    public init(appendingTo url: URL, recording: Recording) throws {
        fileURL = url
        descriptor = open(url.path, O_RDWR | O_APPEND | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw RecordingError("cannot open recording \(url.path) to continue it: \(String(cString: strerror(errno)))")
        }
        guard ftruncate(descriptor, off_t(recording.intactLength)) == 0, fsync(descriptor) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = closeDescriptor(descriptor)
            descriptor = -1
            throw RecordingError("cannot cut the torn last line of \(url.path): \(reason)")
        }
        // A last line that lost only its newline: end it, so the next event starts a line.
        var last: UInt8 = 0x0A
        if recording.intactLength > 0, pread(descriptor, &last, 1, off_t(recording.intactLength - 1)) == 1, last != 0x0A {
            var newline: UInt8 = 0x0A
            _ = write(descriptor, &newline, 1)
        }
    }

    deinit {
        if descriptor >= 0 { _ = closeDescriptor(descriptor) }
    }

    /// Writes the event as one line and fsyncs before returning.
    public func append(_ event: RecordedEvent) throws {
        try writeLine(event)
    }

    public func close() throws {
        guard descriptor >= 0 else { return }
        let result = closeDescriptor(descriptor)
        descriptor = -1
        if result != 0 {
            throw RecordingError("closing recording \(fileURL.path) failed: \(String(cString: strerror(errno)))")
        }
    }

    /// One line of a recording, as written (sorted keys, so the shape is stable).
    public static func encodeLine(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try encoder.encode(value)  // JSON never contains a raw newline
        line.append(0x0A)
        return line
    }

    private func writeLine(_ value: some Encodable) throws {
        guard descriptor >= 0 else { throw RecordingError("recording \(fileURL.path) is already closed") }
        let line = try Self.encodeLine(value)
        try line.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            // One write() normally takes the whole line; the loop only matters for signals or a full disk.
            while offset < buffer.count {
                let written = write(descriptor, base + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw RecordingError("writing recording \(fileURL.path) failed: \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
        guard fsync(descriptor) == 0 else {
            throw RecordingError("syncing recording \(fileURL.path) failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Makes the new directory entry itself durable; best effort (some filesystems refuse).
    private static func syncDirectory(_ directory: URL) {
        let fd = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        _ = closeDescriptor(fd)
    }

    private static func reason(_ error: Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return nsError.localizedDescription
    }
}

/// The C close(2); inside RecordingWriter the name `close` means the method.
private func closeDescriptor(_ descriptor: Int32) -> Int32 {
    close(descriptor)
}

public enum RecordingReader {
    /// Instants outside this range are corrupt data, not dates (upper bound: about the year 3000).
    static let plausibleInstants: ClosedRange<Int64> = 0...32_503_680_000_000

    public static func read(_ url: URL) throws -> Recording {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw RecordingError("cannot read recording \(url.path): \((error as NSError).localizedDescription)")
        }
        return try parse(data, name: url.path)
    }

    public static func parse(_ data: Data, name: String) throws -> Recording {
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        while let last = lines.last, last.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { lines.removeLast() }
        guard let first = lines.first else { throw RecordingError("\(name): the recording is empty") }

        let decoder = JSONDecoder()
        let header: RecordingHeader
        do {
            header = try decoder.decode(RecordingHeader.self, from: Data(first))
        } catch {
            throw RecordingError("\(name):1: not a classctl recording header (\(brief(error)))")
        }
        guard RecordingHeader.readableFormats.contains(header.format) else {
            throw RecordingError("\(name):1: unsupported recording format '\(header.format)' (this classctl reads \(RecordingHeader.readableFormats.sorted().joined(separator: ", ")))")
        }
        let steps = header.steps ?? Expansion.steps(for: header.plan)

        var events: [RecordedEvent] = []
        var warnings: [String] = []
        var intact = first.count + 1
        for (offset, line) in lines.enumerated().dropFirst() {
            let number = offset + 1
            do {
                let event = try decoder.decode(RecordedEvent.self, from: Data(line))
                guard plausibleInstants.contains(event.at), event.seq >= 0 else {
                    throw RecordingError("instant \(event.at) or seq \(event.seq) out of range")
                }
                events.append(event)
                intact += line.count + 1
            } catch {
                let isLast = offset == lines.count - 1
                guard isLast else { throw RecordingError("\(name):\(number): unreadable event (\(brief(error)))") }
                // A crash mid-write leaves a partial last line; everything before it is intact.
                warnings.append("\(name):\(number): ignored a truncated or unreadable last line")
            }
        }
        var recording = Recording(plan: header.plan, steps: steps, classCode: header.classCode, startedAt: header.startedAt,
                                  events: events, warnings: warnings)
        recording.instructorTokenHash = header.instructorTokenHash
        recording.intactLength = min(intact, data.count)
        return recording
    }

    private static func brief(_ error: Error) -> String {
        if let error = error as? RecordingError { return error.message }
        if case DecodingError.dataCorrupted(let context) = error { return context.debugDescription }
        if case DecodingError.keyNotFound(let key, _) = error { return "missing '\(key.stringValue)'" }
        if case DecodingError.typeMismatch(_, let context) = error { return context.debugDescription }
        if case DecodingError.valueNotFound(_, let context) = error { return context.debugDescription }
        return "\(error)"
    }
}
