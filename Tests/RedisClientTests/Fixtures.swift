// Test fixtures: a real redis-server as a child process, servers that misbehave, and small
// waiting helpers.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import NetServer
import RESPCodec
@testable import RedisClient

/// A real redis-server (Debian's redis-server 7) on a free loopback port, started and stopped
/// by the test that owns it. Used from that test's thread only.
final class RedisServerProcess: @unchecked Sendable {
    static let executable: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") + ["/usr/bin", "/usr/local/bin"] {
            let candidate = "\(dir)/redis-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()
    static var isInstalled: Bool { executable != nil }
    static let notInstalled = "redis-server is not installed: these tests need a real one (apt-get install redis-server, or scripts/setup.sh --test)"

    let port: Int
    private let arguments: [String]
    private let directory: String
    private var process: Process?

    /// Starts one at once. `extra`: more configuration, e.g. ["--requirepass", "secret"].
    init(_ extra: [String] = []) throws {
        port = try freeLoopbackPort()
        directory = NSTemporaryDirectory() + "classctl-redis-\(getpid())-\(port)-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--daemonize", "no", "--dir", directory, "--logfile", "\(directory)/redis.log"] + extra
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    /// Starts (or restarts, on the same port) and waits until it answers.
    func start() throws {
        precondition(process == nil, "already running")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: RedisServerProcess.executable!)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if answersPing(port: port) { return }
            if !p.isRunning { break }
            usleep(10_000)
        }
        let log = (try? String(contentsOfFile: "\(directory)/redis.log", encoding: .utf8)) ?? ""
        stop()
        throw TestFailure("redis-server on port \(port) did not come up; its log:\n\(log.suffix(2000))")
    }

    /// SIGKILL: a crash, no goodbye to the clients beyond the kernel's FIN/RST.
    func kill() { signal(SIGKILL) }

    /// Also SIGKILL: a child started from a Dispatch thread inherits that thread's signal mask,
    /// which blocks SIGTERM and SIGINT, so redis-server would never see them (and waiting for
    /// it would hang). Nothing is persisted, so nothing is lost.
    func stop() { signal(SIGKILL) }

    private func signal(_ sig: Int32) {
        guard let p = process else { return }
        process = nil
        if p.isRunning { Glibc.kill(p.processIdentifier, sig) }
        p.waitUntilExit()
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A port that was free a moment ago (bind to 0, read it, close).
func freeLoopbackPort() throws -> Int {
    let l = try listeningSocket()
    close(l.fd)
    return l.port
}

/// A listening socket on 127.0.0.1 that nobody accepts on: TCP connects (the kernel completes
/// the handshake into the backlog), and nothing ever answers.
func listeningSocket() throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0, listen(fd, 64) == 0 else { close(fd); throw TestFailure("bind/listen: \(errno)") }
    var bound = sockaddr_in()
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return (fd, Int(UInt16(bigEndian: bound.sin_port)))
}

/// Blocking PING over a fresh socket: true when the server answers at all (+PONG, or -NOAUTH).
func answersPing(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var tv = timeval(tv_sec: 1, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0 else { return false }
    let ping = Array("PING\r\n".utf8)
    guard send(fd, ping, ping.count, Int32(MSG_NOSIGNAL)) == ping.count else { return false }
    var byte: UInt8 = 0
    return recv(fd, &byte, 1, 0) == 1 && (byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-"))
}

/// A server that accepts one connection and, once the client has written anything, sends
/// `reply` and keeps the connection open. Runs on a thread of its own.
final class ScriptedServer: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private let accepted = Locked<Int32>(-1)

    init(reply: [UInt8], replyAtOnce: Bool = false) throws {
        let l = try listeningSocket()
        fd = l.fd
        port = l.port
        let thread = Thread { [fd, accepted] in
            let c = accept(fd, nil, nil)
            guard c >= 0 else { return }
            accepted.withLock { $0 = c }
            if !replyAtOnce {
                var buffer = [UInt8](repeating: 0, count: 4096)
                guard recv(c, &buffer, buffer.count, 0) > 0 else { return }
            }
            _ = reply.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        thread.start()
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))   // wakes a thread still in accept()
        close(fd)
        let c = accepted.withLock { $0 }
        if c >= 0 { close(c) }
    }
}

/// Things that arrive on a callback queue, for a test to look at.
final class Recorder<T: Sendable>: Sendable {
    private let items = Locked<[T]>([])
    func append(_ item: T) { items.withLock { $0.append(item) } }
    var all: [T] { items.withLock { $0 } }
    var count: Int { items.withLock { $0.count } }
}

/// Polls `condition` every 10 ms for up to `seconds`.
func eventually(_ seconds: Double = 5, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return condition()
}

/// Sends and waits for the completion. The seconds are taken when the completion runs (on the
/// callback queue), so time the test's own task spends waiting for a thread of Swift
/// Testing's pool (which other suites can keep busy) does not count.
func measured(_ c: RedisConnection, _ arguments: [String], timeoutMs: Int? = nil) async -> (error: RedisError?, seconds: Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    return await withCheckedContinuation { continuation in
        c.send(arguments, timeoutMs: timeoutMs) { result in
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if case .failure(let e) = result { continuation.resume(returning: (e, seconds)) } else { continuation.resume(returning: (nil, seconds)) }
        }
    }
}

/// The same for a subscription.
func measured(_ s: RedisSubscriber, subscribe channels: [String], timeoutMs: Int? = nil) async -> (error: RedisError?, seconds: Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    return await withCheckedContinuation { continuation in
        s.subscribe(channels, timeoutMs: timeoutMs) { result in
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if case .failure(let e) = result { continuation.resume(returning: (e, seconds)) } else { continuation.resume(returning: (nil, seconds)) }
        }
    }
}

/// The error a command failed with (nil when it succeeded).
func failure(_ body: () async throws -> RESPValue) async -> RedisError? {
    do {
        _ = try await body()
        return nil
    } catch let e as RedisError {
        return e
    } catch {
        return .unexpectedReply("\(error)")
    }
}

/// Configuration with short delays for tests.
func testConfiguration(_ url: String, commandTimeoutMs: Int = 2_000) throws -> RedisConfiguration {
    var c = try RedisConfiguration(url: url)
    c.commandTimeoutMs = commandTimeoutMs
    c.connectTimeoutMs = 1_000
    c.reconnectInitialDelayMs = 20
    c.reconnectMaxDelayMs = 200
    return c
}

/// Sends `commands` one after the other from this thread before any reply is read (a pipeline in
/// a known order: `async let` children may start in any order) and returns their results in order.
func pipeline(_ redis: RedisConnection, _ commands: [[[UInt8]]]) async -> [Result<RESPValue, RedisError>] {
    let results = Locked<[Int: Result<RESPValue, RedisError>]>([:])
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        for (i, command) in commands.enumerated() {
            redis.send(bytes: command) { result in
                let count = results.withLock { $0[i] = result; return $0.count }
                if count == commands.count { done.resume() }
            }
        }
    }
    return results.withLock { r in (0..<commands.count).map { r[$0]! } }
}

func pipeline(_ redis: RedisConnection, _ commands: [[String]]) async -> [Result<RESPValue, RedisError>] {
    await pipeline(redis, commands.map { $0.map { Array($0.utf8) } })
}

extension Result where Failure == RedisError {
    /// The error, or nil for a reply.
    var failure: RedisError? { if case .failure(let e) = self { return e } else { return nil } }
}
