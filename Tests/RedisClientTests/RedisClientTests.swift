// The Redis client against a real redis-server (started by each test on a free loopback
// port), and against servers that misbehave (silent, garbage).
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Testing
import NetServer
import RESPCodec
@testable import RedisClient

/// One standalone loop and callback queue per test, closed at the end.
private final class Harness: @unchecked Sendable {
    let loop = EventLoop.standalone()
    let callbacks = DispatchQueue(label: "redis-test.callbacks")
    let events = Recorder<RedisConnectionEvent>()
    let subscriberEvents = Recorder<RedisSubscriberEvent>()
    private var clients: [RedisConnection] = []
    private var subscribers: [RedisSubscriber] = []

    func connection(_ configuration: RedisConfiguration, recordEvents: Bool = true) -> RedisConnection {
        let events = self.events
        var onEvent: (@Sendable (RedisConnectionEvent) -> Void)?
        if recordEvents { onEvent = { events.append($0) } }
        let c = RedisConnection(configuration: configuration, loop: loop, callbackQueue: callbacks, onEvent: onEvent)
        c.start()
        clients.append(c)
        return c
    }

    func subscriber(_ configuration: RedisConfiguration) -> RedisSubscriber {
        let events = subscriberEvents
        let s = RedisSubscriber(configuration: configuration, loop: loop, callbackQueue: callbacks) { events.append($0) }
        s.start()
        subscribers.append(s)
        return s
    }

    func messages() -> [String] {
        subscriberEvents.all.compactMap {
            switch $0 {
            case .message(let ch, let p): return "\(ch)=\(String(decoding: p, as: UTF8.self))"
            case .patternMessage(let pat, let ch, let p): return "\(pat)|\(ch)=\(String(decoding: p, as: UTF8.self))"
            default: return nil
            }
        }
    }

    deinit {
        for c in clients { c.close() }
        for s in subscribers { s.close() }
        // Let the closes run before the poller stops.
        loop.queue.sync {}
        loop.stopStandalone()
    }
}

private let needsRedis = Testing.ConditionTrait.enabled(if: RedisServerProcess.isInstalled, Comment(rawValue: RedisServerProcess.notInstalled))

@Suite(.timeLimit(.minutes(1))) struct RedisClientTests {
    @Test(needsRedis) func pipelinedCommandsGetTheirRepliesInOrder() async throws {
        let server = try RedisServerProcess()
        let h = Harness()
        let redis = h.connection(try testConfiguration(server.url, commandTimeoutMs: 10_000))

        // 1,000 INCRs in flight at once: the replies come back 1...1000, in order.
        let replies = Recorder<Int64>()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            for _ in 0..<1000 {
                redis.send(["INCR", "counter"]) { result in
                    replies.append((try? result.get())?.int ?? -1)
                    if replies.count == 1000 { done.resume() }
                }
            }
        }
        #expect(replies.all == Array(1...1000))

        // SET/GET pipelined (in this order, before any reply), binary values, a missing key.
        let binary: [UInt8] = [0, 13, 10, 255, 36, 42]
        let pipelined = await pipeline(redis, [[Array("SET".utf8), Array("bin".utf8), binary],
                                               [Array("GET".utf8), Array("bin".utf8)],
                                               [Array("GET".utf8), Array("no-such-key".utf8)]]).map { try? $0.get() }
        #expect(pipelined == [.simpleString("OK"), .bulkString(binary), .bulkString(nil)])
        #expect(try await redis.send(["GET", "counter"]).int == 1000)
        #expect(h.events.all == [.connected])
    }

    @Test(needsRedis) func commandsFromManyThreadsKeepEachThreadsOrder() async throws {
        let server = try RedisServerProcess()
        let h = Harness()
        let redis = h.connection(try testConfiguration(server.url, commandTimeoutMs: 10_000))
        let results = Recorder<(thread: Int, value: Int64)>()
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for _ in 0..<250 {
                redis.send(["INCR", "n"]) { r in
                    results.append((t, (try? r.get())?.int ?? -1))
                }
            }
        }
        #expect(await eventually(10) { results.count == 1000 })
        let values = results.all
        #expect(Set(values.map(\.value)) == Set(1...1000))
        for t in 0..<4 {
            let mine = values.filter { $0.thread == t }.map(\.value)
            #expect(mine == mine.sorted(), "thread \(t)'s replies out of order")
        }
    }

    @Test(needsRedis) func errorRepliesAreSurfacedAndTheConnectionGoesOn() async throws {
        let server = try RedisServerProcess()
        let h = Harness()
        let redis = h.connection(try testConfiguration(server.url))
        let r = await pipeline(redis, [["SET", "s", "abc"], ["INCR", "s"], ["NOSUCHCOMMAND", "x"], ["LPUSH", "list", "x"], ["GET", "list"]])
        let (ra, rb, rc, rd, re) = (r[0].failure, r[1].failure, r[2].failure, r[3].failure, r[4].failure)
        #expect(ra == nil && rd == nil)
        #expect(rb == .server("ERR value is not an integer or out of range"))
        guard case .server(let unknown) = rc else { Issue.record("\(String(describing: rc))"); return }
        #expect(unknown.hasPrefix("ERR unknown command 'NOSUCHCOMMAND'"))
        #expect(re == .server("WRONGTYPE Operation against a key holding the wrong kind of value"))
        #expect(try await redis.send(["GET", "s"]).string == "abc")
        // EXEC's replies are values, error replies inside them included.
        let exec = try await pipeline(redis, [["MULTI"], ["SET", "t", "1"], ["INCR", "s"], ["EXEC"]])[3].get()
        #expect(exec == .array([.simpleString("OK"), .error("ERR value is not an integer or out of range")]))
        #expect(h.events.all == [.connected])
    }

    @Test(needsRedis) func authSelectAndACLUsers() async throws {
        let server = try RedisServerProcess(["--requirepass", "s3cret"])
        let h = Harness()
        let port = server.port
        let db2 = h.connection(try testConfiguration("redis://:s3cret@127.0.0.1:\(port)/2"))
        let db0 = h.connection(try testConfiguration("redis://:s3cret@127.0.0.1:\(port)"))
        #expect(try await db2.send(["SET", "where", "two"]) == .simpleString("OK"))
        #expect(try await db2.send(["GET", "where"]).string == "two")
        #expect(try await db0.send(["GET", "where"]) == .bulkString(nil))
        #expect(try await db0.send(["SELECT", "2"]) == .simpleString("OK"))
        #expect(try await db0.send(["GET", "where"]).string == "two")

        // Wrong password: fails at once with the server's words, not at the timeout.
        let wrong = h.connection(try testConfiguration("redis://:nope@127.0.0.1:\(port)", commandTimeoutMs: 5_000))
        let (error, seconds) = await measured(wrong, ["PING"])
        #expect(error == .handshakeFailed("AUTH: WRONGPASS invalid username-password pair or user is disabled."))
        #expect(seconds < 2)
        // No password: the server says so per command.
        let none = h.connection(try testConfiguration("redis://127.0.0.1:\(port)"), recordEvents: false)
        #expect(await failure { try await none.send(["GET", "x"]) } == .server("NOAUTH Authentication required."))
        // A database that does not exist.
        let far = h.connection(try testConfiguration("redis://:s3cret@127.0.0.1:\(port)/99"), recordEvents: false)
        #expect(await failure { try await far.send(["PING"]) } == .handshakeFailed("SELECT: ERR DB index is out of range"))

        // An ACL user: AUTH user password.
        #expect(try await db0.send(["ACL", "SETUSER", "alice", "on", ">pw", "~*", "&*", "+@all"]) == .simpleString("OK"))
        let alice = h.connection(try testConfiguration("redis://alice:pw@127.0.0.1:\(port)/2"))
        #expect(try await alice.send(["ACL", "WHOAMI"]).string == "alice")
        #expect(try await alice.send(["GET", "where"]).string == "two")
        #expect(h.events.all.contains(.connectFailed(.handshakeFailed("AUTH: WRONGPASS invalid username-password pair or user is disabled."))))
    }

    @Test(needsRedis) func publishSubscribeAndPatterns() async throws {
        let server = try RedisServerProcess()
        let h = Harness()
        let redis = h.connection(try testConfiguration(server.url))
        let sub = h.subscriber(try testConfiguration(server.url))
        try await sub.subscribe(["class:a", "class:b"])
        try await sub.psubscribe(["room:*"])
        #expect(h.subscriberEvents.all.first == .ready(afterReconnect: false))

        #expect(try await redis.send(["PUBLISH", "class:a", "hello"]) == .integer(1))
        #expect(try await redis.send(["PUBLISH", "room:7", "step"]) == .integer(1))
        #expect(try await redis.send(["PUBLISH", "elsewhere", "no"]) == .integer(0))
        let payload: [UInt8] = [0, 1, 13, 10, 255]
        #expect(try await redis.send(bytes: [Array("PUBLISH".utf8), Array("class:b".utf8), payload]) == .integer(1))
        #expect(await eventually { h.messages().count == 3 })
        #expect(h.messages().prefix(2) == ["class:a=hello", "room:*|room:7=step"])
        #expect(h.subscriberEvents.all.contains(.message(channel: "class:b", payload: payload)))

        try await sub.unsubscribe(["class:a"])
        #expect(try await redis.send(["PUBLISH", "class:a", "gone"]) == .integer(0))
        #expect(try await redis.send(["PUBLISH", "class:b", "still"]) == .integer(1))
        #expect(await eventually { h.messages().last == "class:b=still" })
        #expect(!h.messages().contains("class:a=gone"))
        // Subscribing again to what is already subscribed completes at once.
        try await sub.subscribe(["class:b"])
        #expect(try await redis.send(["PUBSUB", "NUMSUB", "class:a", "class:b"])
                == .array([.bulkString(Array("class:a".utf8)), .integer(0), .bulkString(Array("class:b".utf8)), .integer(1)]))
    }

    @Test(needsRedis) func subscriberPingsAnIdleConnection() async throws {
        let server = try RedisServerProcess()
        let h = Harness()
        var config = try testConfiguration(server.url)
        config.subscriberPingIntervalMs = 50
        let sub = h.subscriber(config)
        try await sub.subscribe(["c"])
        let redis = h.connection(try testConfiguration(server.url))
        // The PINGs show in the server's command statistics, and nothing broke.
        try await Task.sleep(nanoseconds: 400_000_000)
        let stats = try await redis.send(["INFO", "commandstats"]).string ?? ""
        let pings = stats.split(separator: "\r\n").first { $0.hasPrefix("cmdstat_ping:") }
        #expect(pings != nil, "\(stats)")
        #expect(!h.subscriberEvents.all.contains { if case .disconnected = $0 { return true } else { return false } })
        // Before any subscription a PING is answered with +PONG, which is fine too.
        let idleEvents = Recorder<RedisSubscriberEvent>()
        let idle = RedisSubscriber(configuration: config, loop: h.loop, callbackQueue: h.callbacks) { idleEvents.append($0) }
        idle.start()
        try await Task.sleep(nanoseconds: 300_000_000)
        idle.close()
        #expect(idleEvents.all == [.ready(afterReconnect: false)])
    }

    @Test func aSubscriberOnASilentServerNoticesAndReconnects() async throws {
        let (fd, port) = try listeningSocket()
        defer { close(fd) }
        let h = Harness()
        var config = try testConfiguration("redis://127.0.0.1:\(port)", commandTimeoutMs: 300)
        config.subscriberPingIntervalMs = 50
        // No subscription: the PING goes unanswered.
        let pinging = h.subscriber(config)
        #expect(await eventually { h.subscriberEvents.all.contains(.disconnected(.timedOut(ms: 300))) })
        pinging.close()
        // A subscription that is never confirmed fails at its timeout (and stays wanted). No
        // pings here: an unanswered PING sent just before it would reset the link first, and
        // the subscription would fail as "not connected" (TSan's slower run once did).
        config.subscriberPingIntervalMs = 60_000
        let sub = h.subscriber(config)
        let (error, seconds) = await measured(sub, subscribe: ["x"])
        #expect(error == .timedOut(ms: 300))
        #expect(seconds >= 0.29 && seconds < 2, "\(seconds) s")
    }

    /// The redis-server is killed (SIGKILL) and restarted on the same port.
    @Test(needsRedis) func reconnectsAndResubscribesAfterTheServerRestarts() async throws {
        let server = try RedisServerProcess()
        let h = Harness()
        let redis = h.connection(try testConfiguration(server.url, commandTimeoutMs: 1_000))
        var subConfig = try testConfiguration(server.url, commandTimeoutMs: 1_000)
        subConfig.subscriberPingIntervalMs = 200
        let sub = h.subscriber(subConfig)
        try await sub.subscribe(["class:1"])
        try await sub.psubscribe(["node:*"])
        #expect(try await redis.send(["PUBLISH", "class:1", "before"]) == .integer(1))
        #expect(await eventually { h.messages() == ["class:1=before"] })

        // A command in flight when the server dies fails promptly (it may have run).
        let blocked = Recorder<(error: RedisError?, at: UInt64)>()
        redis.send(["BLPOP", "empty", "10"], timeoutMs: 15_000) { result in
            var error: RedisError?
            if case .failure(let e) = result { error = e }
            blocked.append((error, DispatchTime.now().uptimeNanoseconds))
        }
        let watcher = h.connection(try testConfiguration(server.url), recordEvents: false)
        var blockedOnServer = false
        for _ in 0..<200 where !blockedOnServer {
            blockedOnServer = (try await watcher.send(["INFO", "clients"]).string ?? "").contains("blocked_clients:1")
            if !blockedOnServer { try await Task.sleep(nanoseconds: 10_000_000) }
        }
        #expect(blockedOnServer)
        let killedAt = DispatchTime.now().uptimeNanoseconds
        server.kill()
        #expect(await eventually(10) { blocked.count == 1 })
        let lost = blocked.all.first?.error
        let lostAfter = Double((blocked.all.first?.at ?? killedAt) - killedAt) / 1e9
        guard case .connectionLost = lost else { Issue.record("in-flight command: \(String(describing: lost))"); return }
        #expect(lostAfter < 2)

        // While it is down, a command fails within its timeout, never hangs; it never ran.
        let (down, downAfter) = await measured(redis, ["SET", "k", "v"], timeoutMs: 400)
        guard case .notConnected(let why) = down else { Issue.record("while down: \(String(describing: down))"); return }
        #expect(why.contains("Connection refused") || why.contains("closed"), "\(why)")
        #expect(downAfter >= 0.35 && downAfter < 2, "\(downAfter) s")
        // A subscription asked for while down waits for the reconnect.
        let laterSubscribed = Recorder<Bool>()
        sub.subscribe(["class:2"], timeoutMs: 30_000) { laterSubscribed.append((try? $0.get()) != nil) }

        try await Task.sleep(nanoseconds: 300_000_000)
        let restartedAt = DispatchTime.now().uptimeNanoseconds
        try server.start()
        let readyAgain = await eventually(10) { h.subscriberEvents.all.contains(.ready(afterReconnect: true)) }
        #expect(readyAgain)
        let resubscribeMs = Double(DispatchTime.now().uptimeNanoseconds - restartedAt) / 1e6
        #expect(await eventually(10) { h.events.all.filter { $0 == .connected }.count == 2 })
        #expect(laterSubscribed.all == [true])

        // Commands work again, and every subscription came back.
        #expect(try await redis.send(["SET", "k", "v"]) == .simpleString("OK"))
        #expect(try await redis.send(["PUBLISH", "class:1", "after"]) == .integer(1))
        #expect(try await redis.send(["PUBLISH", "class:2", "new"]) == .integer(1))
        #expect(try await redis.send(["PUBLISH", "node:3", "up"]) == .integer(1))
        #expect(await eventually { h.messages().count == 4 })
        #expect(h.messages() == ["class:1=before", "class:1=after", "class:2=new", "node:*|node:3=up"])

        let connectionEvents = h.events.all
        #expect(connectionEvents.first == .connected)
        #expect(connectionEvents.contains { if case .disconnected(.connectionLost) = $0 { return true } else { return false } })
        #expect(connectionEvents.contains { if case .connectFailed = $0 { return true } else { return false } })
        let subEvents = h.subscriberEvents.all.filter { if case .message = $0 { return false } else if case .patternMessage = $0 { return false } else { return true } }
        #expect(subEvents.first == .ready(afterReconnect: false))
        #expect(subEvents.last == .ready(afterReconnect: true))
        print("kill/restart: in-flight BLPOP failed \(Int(lostAfter * 1000)) ms after SIGKILL with \(lost!); "
              + "a 400 ms SET while down failed after \(Int(downAfter * 1000)) ms (\(down!)); "
              + "subscriber ready again \(Int(resubscribeMs)) ms after the restart; "
              + "\(connectionEvents.filter { if case .connectFailed = $0 { return true } else { return false } }.count) failed attempts while down")
    }

    @Test(needsRedis) func timeFromTheServer() async throws {
        let server = try RedisServerProcess()
        let h = Harness()
        // By name: resolved off the loop.
        let redis = h.connection(try testConfiguration("redis://localhost:\(server.port)"))
        let t = try await redis.time()
        #expect(abs(t.milliseconds - wallClockMillis()) < 2_000)
        #expect((0...999_999).contains(t.microseconds))
    }

    @Test(needsRedis) func closeFailsWhatIsPendingAndWhatComesLater() async throws {
        let server = try RedisServerProcess()
        let h = Harness()
        let redis = h.connection(try testConfiguration(server.url))
        #expect(try await redis.send(["PING"]) == .simpleString("PONG"))
        async let blocked = failure { try await redis.send(["BLPOP", "nothing", "5"], timeoutMs: 10_000) }
        try await Task.sleep(nanoseconds: 100_000_000)
        redis.close()
        #expect(await blocked == .closed)
        #expect(await failure { try await redis.send(["PING"]) } == .closed)
        let sub = h.subscriber(try testConfiguration(server.url))
        sub.close()
        await #expect(throws: RedisError.closed) { try await sub.subscribe(["x"]) }
    }

    // MARK: Servers that misbehave (no redis-server needed)

    @Test func aServerThatNeverAnswersTimesCommandsOut() async throws {
        let (fd, port) = try listeningSocket()
        defer { close(fd) }
        let h = Harness()
        let redis = h.connection(try testConfiguration("redis://127.0.0.1:\(port)", commandTimeoutMs: 300))
        let (error, seconds) = await measured(redis, ["PING"])
        #expect(error == .timedOut(ms: 300))
        #expect(error?.outcomeUnknown == true, "sent, no answer: the cluster reloads a class after such a write")
        #expect(seconds >= 0.29 && seconds < 2, "\(seconds) s")
        // The connection was reset and made again; the next command times out the same way.
        let (again, _) = await measured(redis, ["GET", "k"], timeoutMs: 200)
        #expect(again == .timedOut(ms: 200))
        #expect(h.events.all.contains(.disconnected(.timedOut(ms: 300))))
    }

    @Test func aLoginThatIsNeverAnsweredHitsTheConnectTimeout() async throws {
        let (fd, port) = try listeningSocket()
        defer { close(fd) }
        let h = Harness()
        var config = try testConfiguration("redis://:pw@127.0.0.1:\(port)/1", commandTimeoutMs: 700)
        config.connectTimeoutMs = 200
        let redis = h.connection(config)
        let (error, seconds) = await measured(redis, ["PING"])
        #expect(error == .notConnected("no reply to AUTH within 200 ms"))
        #expect(error?.outcomeUnknown == false, "never sent: a clean refusal")
        #expect(seconds >= 0.65 && seconds < 2.5, "\(seconds) s")
        #expect(h.events.all.first == .connectFailed(.notConnected("no reply to AUTH within 200 ms")))
    }

    @Test func nothingListeningFailsWithinTheTimeout() async throws {
        let port = try freeLoopbackPort()
        let h = Harness()
        let redis = h.connection(try testConfiguration("redis://127.0.0.1:\(port)", commandTimeoutMs: 250))
        let (error, seconds) = await measured(redis, ["PING"])
        guard case .notConnected(let why) = error else { Issue.record("\(String(describing: error))"); return }
        #expect(why.contains("Connection refused"), "\(why)")
        #expect(seconds < 2)
    }

    @Test func aServerSpeakingSomethingElseIsAProtocolError() async throws {
        // RESP3 (what a server answers to HELLO 3), which this client never asks for.
        let resp3 = try ScriptedServer(reply: Array("%1\r\n+a\r\n:1\r\n".utf8))
        let h = Harness()
        let redis = h.connection(try testConfiguration("redis://127.0.0.1:\(resp3.port)"))
        let error = await failure { try await redis.send(["PING"]) }
        #expect(error == .protocolError("RESP protocol error at byte 0: RESP3 reply type '%' (only RESP2 is supported)"))

        // A bulk string over the limit is refused as soon as its length is read.
        let huge = try ScriptedServer(reply: Array("$2000000000\r\nxx".utf8))
        let big = h.connection(try testConfiguration("redis://127.0.0.1:\(huge.port)"))
        guard case .protocolError(let why) = await failure({ try await big.send(["GET", "k"]) }) else { Issue.record("no protocol error"); return }
        #expect(why.contains("bulk string of 2000000000 bytes exceeds the limit"))

        // A reply nobody asked for.
        let chatty = try ScriptedServer(reply: Array("+HELLO\r\n".utf8), replyAtOnce: true)
        let c = h.connection(try testConfiguration("redis://127.0.0.1:\(chatty.port)"))
        #expect(await eventually {
            h.events.all.contains(.disconnected(.protocolError("a reply came with no command waiting for it: simpleString(\"HELLO\")")))
        })
        c.close()
    }

    @Test func configurationFromURL() throws {
        let c = try RedisConfiguration(url: "redis://:pw@10.1.2.3:6380/4")
        #expect(c.url == RedisURL(host: "10.1.2.3", port: 6380, password: "pw", database: 4))
        #expect(throws: RedisURLError.self) { try RedisConfiguration(url: "http://x") }
        #expect(RedisError.timedOut(ms: 5).description == "Redis did not answer within 5 ms")
    }
}
