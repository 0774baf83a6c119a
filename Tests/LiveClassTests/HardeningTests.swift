// Regression tests for issue 11's findings: instructor lock-out by others' wrong tokens,
// client addresses behind trusted proxies, one home for message limits, and event loops
// that never wait for a class queue busy with the disk.
import Testing
import Foundation
import Dispatch
import TestSupport
import NetServer
import HTTPCodec
@testable import LiveClass

/// Reads frames until a close frame; returns its code (nil when the socket ends first).
func readCloseCode(_ c: TestClient, limit: Int = 50) -> UInt16? {
    for _ in 0..<limit {
        guard let frame = try? c.readFrame() else { return nil }
        if frame.opcode == 8, frame.payload.count >= 2 { return UInt16(frame.payload[0]) << 8 | UInt16(frame.payload[1]) }
    }
    return nil
}

@Suite("Token guessing limits (pure)")
struct TokenGuessLimiterTests {
    @Test func correctTokenIsAcceptedWhateverCameBefore() {
        var g = TokenGuessLimiter()
        for i in 0..<100 { _ = g.attempt(correct: false, address: "10.0.0.1", wrongOnConnection: i % 3, now: 1_000) }
        #expect(g.attempt(correct: true, address: "10.0.0.1", wrongOnConnection: 2, now: 1_001) == .accept)
        #expect(g.refusals == 100)
    }

    @Test func aConnectionIsClosedAfterItsThirdWrongToken() {
        var g = TokenGuessLimiter()
        #expect(g.attempt(correct: false, address: "a", wrongOnConnection: 0, now: 0) == .refuse(delayMs: 0, close: false))
        #expect(g.attempt(correct: false, address: "a", wrongOnConnection: 1, now: 0) == .refuse(delayMs: 0, close: false))
        #expect(g.attempt(correct: false, address: "a", wrongOnConnection: 2, now: 0) == .refuse(delayMs: 0, close: true))
    }

    @Test func aGuessingAddressIsTarpittedUntilItsWindowEnds() {
        var g = TokenGuessLimiter()
        let allowance = g.config.addressAllowance
        for _ in 0..<allowance { _ = g.attempt(correct: false, address: "a", wrongOnConnection: 0, now: 0) }
        #expect(g.attempt(correct: false, address: "a", wrongOnConnection: 0, now: 10) == .refuse(delayMs: g.config.tarpitMs, close: true))
        // Another address is not affected.
        #expect(g.attempt(correct: false, address: "b", wrongOnConnection: 0, now: 10) == .refuse(delayMs: 0, close: false))
        // A new window forgives.
        #expect(g.attempt(correct: false, address: "a", wrongOnConnection: 0, now: g.config.windowMs + 1) == .refuse(delayMs: 0, close: false))
    }

    @Test func theAddressTableStaysBounded() {
        var config = TokenGuessLimiter.Config()
        config.maxAddresses = 100
        var g = TokenGuessLimiter(config: config)
        for i in 0..<10_000 { _ = g.attempt(correct: false, address: "10.0.\(i / 256).\(i % 256)", wrongOnConnection: 0, now: Int64(i)) }
        #expect(g.rememberedAddresses <= 100)
    }
}

@Suite("Hardening over real sockets", .serialized)
struct HardeningTests {
    /// Finding: a dozen wrong tokens from the same address locked the real instructor out.
    @Test func othersWrongTokensNeverLockTheInstructorOut() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        var guessers: [TestClient] = []
        for _ in 0..<12 {
            let (p, _) = try f.connect()
            try p.sendJSON(["type": "hello", "role": "instructor", "token": "wrong-token-wrong-token"])
            guessers.append(p)
        }
        // Same address (127.0.0.1), after all those guesses: the right token works at once.
        let start = Date()
        let teacher = try f.instructor()
        #expect(Date().timeIntervalSince(start) < 1.5, "no tarpit for the right token")
        try teacher.sendJSON(["type": "command", "command": "start"])
        #expect(try teacher.readMessage(type: "state")["status"] as? String == "running")
    }

    @Test func aConnectionThatKeepsGuessingIsClosed() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        let (p, _) = try f.connect()
        for _ in 0..<3 {
            try p.sendJSON(["type": "hello", "role": "instructor", "token": "wrong-token-wrong-token"])
            #expect(try p.readMessage(type: "error")["code"] as? String == "bad-token")
        }
        #expect(readCloseCode(p) == 1008)
        #expect(f.sessions[0].publicView.tokenRefusals == 3)
    }

    /// Behind a trusted proxy, limits apply to the forwarded client, not to the proxy.
    @Test func trustedProxyGivesTheClientAddressForLimits() throws {
        let f = try LiveFixture(configure: { $0.trustedProxies = [IPRange("127.0.0.0/8")!] })
        defer { f.stop() }
        let guesser = "X-Forwarded-For: 203.0.113.7\r\n"
        for _ in 0..<11 {   // past the allowance of one address (10 per minute)
            let (p, _) = try f.connect(extraHeaders: guesser)
            try p.sendJSON(["type": "hello", "role": "instructor", "token": "wrong-token-wrong-token"])
            _ = try p.readMessage(type: "error")
        }
        // The guessing client now gets one slow answer per connection...
        let (g, _) = try f.connect(extraHeaders: guesser)
        var t = Date()
        try g.sendJSON(["type": "hello", "role": "instructor", "token": "wrong-token-wrong-token"])
        #expect(try g.readMessage(type: "error")["code"] as? String == "bad-token")
        #expect(Date().timeIntervalSince(t) >= 1.5, "tarpit")
        #expect(readCloseCode(g) == 1008)
        // ... while another phone behind the same proxy is not affected,
        let (other, _) = try f.connect(extraHeaders: "Forwarded: for=\"198.51.100.9:4711\"\r\n")
        t = Date()
        try other.sendJSON(["type": "hello", "role": "instructor", "token": "wrong-token-wrong-token"])
        #expect(try other.readMessage(type: "error")["code"] as? String == "bad-token")
        #expect(Date().timeIntervalSince(t) < 1.0)
        // ... and the instructor behind the guessing address itself still gets in at once.
        let (teacher, _) = try f.connect(extraHeaders: guesser)
        t = Date()
        try teacher.sendJSON(["type": "hello", "role": "instructor", "token": testToken])
        #expect(try teacher.readMessage(type: "welcome")["role"] as? String == "instructor")
        #expect(Date().timeIntervalSince(t) < 1.0)
    }

    /// Without trusted proxies a forged header changes nothing: limits follow the socket.
    @Test func untrustedForwardedHeadersAreIgnored() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        for i in 0..<11 {
            let (p, _) = try f.connect(extraHeaders: "X-Forwarded-For: 192.0.2.\(i)\r\n")
            try p.sendJSON(["type": "hello", "role": "instructor", "token": "wrong-token-wrong-token"])
            _ = try p.readMessage(type: "error")
        }
        let (g, _) = try f.connect(extraHeaders: "X-Forwarded-For: 192.0.2.99\r\n")
        let t = Date()
        try g.sendJSON(["type": "hello", "role": "instructor", "token": "wrong-token-wrong-token"])
        _ = try g.readMessage(type: "error")
        #expect(Date().timeIntervalSince(t) >= 1.5, "all eleven came from 127.0.0.1, whatever the header said")
    }

    @Test func overLongAnnouncementsAreRefusedNotCut() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        let teacher = try f.instructor()
        let (phone, _) = try f.connect()
        // 280 characters as people count them (each flag is one character, several scalars).
        let fits = String(repeating: "🇳🇱", count: ClassLimits.maxAnnouncementCharacters)
        try teacher.sendJSON(["type": "announce", "text": fits])
        #expect(try phone.readMessage(type: "announce")["text"] as? String == fits)
        try teacher.sendJSON(["type": "announce", "text": fits + "!"])
        #expect(try teacher.readMessage(type: "error")["code"] as? String == "too-long")
    }

    @Test func messagesOverTheClassLimitCloseWith1009() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        let (p, _) = try f.connect()
        let big = "{\"type\":\"sync\",\"pad\":\"" + String(repeating: "x", count: ClassLimits.maxMessageBytes) + "\"}"
        try p.sendText(big)
        #expect(readCloseCode(p) == 1009)
    }

    /// Finding: /api/classes and /metrics waited on the class queue, which fsyncs the
    /// recording; a page load during a burst of commands stalled a whole event loop.
    @Test func loopsAnswerTimeWhileTheDiskIsSlow() throws {
        // One loop: the routes, the clock probes and the instructor all share it.
        let f = try LiveFixture(loopCount: 1, onRecorded: { usleep(400_000) })
        defer { f.stop() }
        let teacher = try f.instructor()
        let (prober, _) = try f.connect()
        let web = try TestClient(port: f.server.port)
        // Five commands: about two seconds of the class queue writing to a slow disk.
        for c in ["start", "pause", "resume", "next", "previous"] { try teacher.sendJSON(["type": "command", "command": c]) }
        var worst = 0.0
        let until = Date().addingTimeInterval(1.6)
        var i = 0
        while Date() < until {
            // A page load and a scrape, then a clock probe behind them on the same loop.
            try web.send("GET /api/classes/TEST HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /api/classes HTTP/1.1\r\nHost: x\r\n\r\n")
            let t0 = Date()
            try prober.sendJSON(["type": "time", "id": i, "t0": 1])
            _ = try prober.readMessage(type: "time")
            worst = max(worst, Date().timeIntervalSince(t0))
            for _ in 0..<3 { #expect(try web.readResponse().status == 200) }
            i += 1
            usleep(60_000)   // under the class's 20 messages/s
        }
        #expect(i > 10)
        #expect(worst < 0.1, "a clock probe waited \(Int(worst * 1000)) ms behind the disk")
    }
}
