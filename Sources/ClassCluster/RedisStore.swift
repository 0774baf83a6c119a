// Blocking Redis calls for the cluster's control queue and class queues (never an event loop
// nor the reply queue): every RedisConnection command ends by its timeout, so these do too.
// The recording as a Redis stream, and the sink a class appends its events to.
import Dispatch
import Foundation
import NetServer
import RESPCodec
import RedisClient
import ClassPlan
import ClassEngine
import LiveClass

/// The command connection, with calls that wait for their reply. `up` follows the connection's
/// events, so calls fail at once (never ran) while Redis is known to be away. Any thread but
/// the connection's callback queue.
final class RedisStore: Sendable {
    let connection: RedisConnection
    /// Kept by the connection's event handler.
    private let up: Locked<Bool>
    let timeoutMs: Int

    init(connection: RedisConnection, up: Locked<Bool>, timeoutMs: Int) {
        self.connection = connection
        self.up = up
        self.timeoutMs = timeoutMs
    }

    var isUp: Bool { up.withLock { $0 } }

    func call(_ arguments: [String], timeoutMs: Int? = nil) -> Result<RESPValue, RedisError> {
        guard isUp else { return .failure(.notConnected("Redis is not reachable")) }
        let done = DispatchSemaphore(value: 0)
        let box = Locked<Result<RESPValue, RedisError>?>(nil)
        let ms = timeoutMs ?? self.timeoutMs
        connection.send(arguments, timeoutMs: ms) { result in
            box.withLock { $0 = result }
            done.signal()
        }
        if done.wait(timeout: .now() + .milliseconds(ms + 2_000)) == .timedOut {
            return .failure(.timedOut(ms: ms))
        }
        return box.withLock { $0 } ?? .failure(.timedOut(ms: ms))
    }

    /// Without waiting (PUBLISH, heartbeats): dropped while Redis is away (the completion, if
    /// any, then gets `notConnected` at once, on a global queue).
    func send(_ arguments: [[UInt8]], completion: RedisCompletion? = nil) {
        guard isUp else {
            if let completion { DispatchQueue.global().async { completion(.failure(.notConnected("Redis is not reachable"))) } }
            return
        }
        connection.send(bytes: arguments, timeoutMs: timeoutMs, completion: completion ?? { _ in })
    }

    func eval(_ script: String, keys: [String], _ args: [String]) -> Result<RESPValue, RedisError> {
        call(["EVAL", script, String(keys.count)] + keys + args)
    }
}

/// The recording of a class in Redis: a stream whose entries hold the lines of a recording file.
public enum RedisRecording {
    /// `XRANGE` of the stream → the lines → `RecordingReader.parse`, as for a file.
    static func parse(_ reply: RESPValue, name: String) throws -> Recording {
        guard let entries = reply.array, !entries.isEmpty else { throw RecordingError("\(name): no such class in Redis (its recording stream is empty or gone)") }
        var data = Data()
        for entry in entries {
            guard let parts = entry.array, parts.count == 2, let fields = parts[1].array else { continue }
            var i = 0
            while i + 1 < fields.count {
                if fields[i].string == "line", let bytes = fields[i + 1].bytes {
                    data.append(contentsOf: bytes)
                    data.append(0x0A)
                }
                i += 2
            }
        }
        return try RecordingReader.parse(data, name: name)
    }

    static func read(_ store: RedisStore, code: String, name: String) throws -> Recording {
        switch store.call(["XRANGE", ClusterKeys.recording(code), "-", "+"], timeoutMs: max(store.timeoutMs, 5_000)) {
        case .success(let reply): return try parse(reply, name: name)
        case .failure(let e): throw RecordingError("\(name): cannot read the class from Redis: \(e)")
        }
    }

    /// For `classctl export` / `replay`: reads `redis://[:pw@]host:port/db#CODE` (or the URL and
    /// the code apart) with a connection of its own.
    public static func read(url: String, code: String? = nil) throws -> Recording {
        var text = url
        var code = code
        if let hash = url.firstIndex(of: "#") {
            code = code ?? String(url[url.index(after: hash)...])
            text = String(url[..<hash])
        }
        guard let code, !code.isEmpty else { throw RecordingError("\(url): say which class: redis://host:port/db#CODE") }
        let configuration: RedisConfiguration
        do { configuration = try RedisConfiguration(url: text) } catch { throw RecordingError("\(text): \(error)") }
        let loop = EventLoop.standalone()
        let replies = DispatchQueue(label: "classctl.redis-read")
        let connection = RedisConnection(configuration: configuration, loop: loop, callbackQueue: replies)
        connection.start()
        defer {
            connection.close()
            loop.queue.sync {}
            loop.stopStandalone()
        }
        let done = DispatchSemaphore(value: 0)
        let box = Locked<Result<RESPValue, RedisError>?>(nil)
        connection.send(["XRANGE", ClusterKeys.recording(code), "-", "+"], timeoutMs: 5_000) { r in
            box.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        let name = "\(configuration.url)#\(code)"
        switch box.withLock({ $0 })! {
        case .success(let reply): return try parse(reply, name: name)
        case .failure(let e): throw RecordingError("\(name): cannot read the class from Redis: \(e)")
        }
    }

    /// A recording line without its newline.
    static func line(_ value: some Encodable) throws -> String {
        var data = try RecordingWriter.encodeLine(value)
        if data.last == 0x0A { data.removeLast() }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Appends a class's events to its stream, each through the fence check, waiting for Redis's
/// answer before the change goes to anyone. Used on the class queue only.
final class RedisStreamSink: RecordingSink {
    let store: RedisStore
    let code: String
    let fence: Int64
    let location: String
    /// Told (once per refusal) that another node holds the class now.
    let onFenced: @Sendable () -> Void
    /// Told once that a write's outcome is unknown: the node reloads the class from its stream.
    let onUncertain: @Sendable () -> Void
    /// Tests only: each append waits this long before it is sent.
    let testStallMs: Int
    /// A write went out and no answer came (a timeout, the connection dropped under it): the
    /// stream may hold an event the session did not make, so nothing more is written here.
    /// Owned by the class queue, like the session's recorder.
    private var uncertain = false

    init(store: RedisStore, code: String, fence: Int64, location: String, testStallMs: Int = 0,
         onFenced: @escaping @Sendable () -> Void, onUncertain: @escaping @Sendable () -> Void) {
        self.store = store
        self.code = code
        self.fence = fence
        self.location = location
        self.testStallMs = testStallMs
        self.onFenced = onFenced
        self.onUncertain = onUncertain
    }

    var required: Bool { true }

    func append(_ event: RecordedEvent) throws {
        if uncertain { throw RecordingError("Redis did not answer an earlier write in time; the class is being reloaded from its recording") }
        if testStallMs > 0 { usleep(UInt32(testStallMs) * 1_000) }
        try check(store.eval(ClusterScripts.append, keys: [ClusterKeys.recording(code), ClusterKeys.fence(code)],
                             [String(fence), try RedisRecording.line(event)]))
    }

    func close() throws {}

    func newRun(plan: ClassPlan, steps: [Step], classCode: String, startedAt: Int64, instructorTokenHash: String?) throws -> any RecordingSink {
        if uncertain { throw RecordingError("Redis did not answer an earlier write in time; the class is being reloaded from its recording") }
        let header = RecordingHeader(format: RecordingHeader.currentFormat, classCode: classCode, startedAt: startedAt,
                                     plan: plan, steps: steps, instructorTokenHash: instructorTokenHash)
        try check(store.eval(ClusterScripts.newRun, keys: [ClusterKeys.recording(code), ClusterKeys.fence(code)],
                             [String(fence), "\(ClusterKeys.recording(code)):\(wallClockMillis())", try RedisRecording.line(header)]))
        return self
    }

    private func check(_ result: Result<RESPValue, RedisError>) throws {
        switch result {
        case .success: return
        case .failure(.server(let m)) where m.hasPrefix("FENCED"):
            onFenced()
            throw RecordingSuperseded()
        case .failure(let e) where e.outcomeUnknown:
            uncertain = true
            onUncertain()
            throw RecordingError("no answer from Redis in time (\(e)); it may have been stored, so the class is reloaded from its recording")
        case .failure(let e):
            throw RecordingError("\(e)")
        }
    }
}
