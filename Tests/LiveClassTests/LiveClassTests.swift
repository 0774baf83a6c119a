import Testing
import Foundation
import Dispatch
import Logging
import TestSupport
import NetServer
import ClassPlan
import ClassEngine
@testable import LiveClass

let testToken = "instructor-token-0123456789abcdef"

func shortPlan(stepSeconds: Int64 = 60) -> ClassPlan {
    ClassPlan(title: "Test class", goal: .custom, safety: ["Clear space behind you"], advanceWhenDone: 1.0, segments: [
        Segment(kind: .walk, title: "Backward walk", durationMs: stepSeconds * 1000, cues: [Cue(atMs: 0, text: "Short steps")]),
        Segment(kind: .jog, title: "Backward jog", distanceMeters: 25),
        Segment(kind: .cooldown, title: "Cool-down", durationMs: stepSeconds * 1000),
    ])
}

struct LiveFixture {
    let server: Server
    let classes: ClassServer
    let sessions: [ClassSession]
    let recordDir: URL

    init(plans: [(String, ClassPlan)] = [("TEST", shortPlan())], leadMs: Int64 = 50, loopCount: Int = 2,
         configure: (inout ServerConfiguration) -> Void = { _ in },
         onRecorded: (@Sendable () -> Void)? = nil) throws {
        recordDir = URL(fileURLWithPath: NSTemporaryDirectory() + "classctl-rec-\(UUID().uuidString)")
        classes = ClassServer()
        var config = ServerConfiguration()
        config.port = 0
        config.loopCount = loopCount
        configure(&config)
        classes.install(into: &config)
        server = Server(configuration: config)
        var made: [ClassSession] = []
        for (i, (code, plan)) in plans.enumerated() {
            let s = try ClassSession(code: code, plan: plan, instructorToken: testToken, server: server, leadMs: leadMs,
                                     recordDirectory: recordDir, logger: Logger(label: "test"), onRecorded: onRecorded)
            classes.add(s, isDefault: i == 0)
            made.append(s)
        }
        sessions = made
        try server.start()
    }

    func connect(code: String = "TEST", extraHeaders: String = "") throws -> (TestClient, [String: Any]) {
        let c = try TestClient(port: server.port)
        let r = try c.upgrade(path: "/ws?class=\(code)", extraHeaders: extraHeaders)
        guard r.status == 101 else { throw TestClientError(description: "upgrade \(r.status)") }
        return (c, try c.readMessage(type: "welcome"))
    }

    func instructor(code: String = "TEST") throws -> TestClient {
        let (c, _) = try connect(code: code)
        try c.sendJSON(["type": "hello", "role": "instructor", "token": testToken])
        let w = try c.readMessage(type: "welcome")
        guard w["role"] as? String == "instructor" else { throw TestClientError(description: "not instructor") }
        return c
    }

    func stop() { server.shutdown(timeout: 1) }
}

@Suite("Live class over real sockets", .serialized)
struct LiveClassTests {
    @Test func wholeClassWithManyParticipants() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        var phones: [TestClient] = []
        for _ in 0..<20 {
            let (c, welcome) = try f.connect()
            let cls = try #require(welcome["class"] as? [String: Any])
            #expect((cls["steps"] as? [Any])?.count == 3)
            #expect((welcome["state"] as? [String: Any])?["status"] as? String == "idle")
            phones.append(c)
        }
        let teacher = try f.instructor()
        try teacher.sendJSON(["type": "command", "command": "start"])
        for p in phones {
            let s = try p.readMessage(type: "state")
            #expect(s["status"] as? String == "running")
            #expect(s["step"] as? Int == 0)
            let effective = try #require(s["effectiveAt"] as? Int64 ?? (s["effectiveAt"] as? NSNumber)?.int64Value)
            let server = try #require((s["serverTime"] as? NSNumber)?.int64Value)
            #expect(effective > server - 5 && effective <= server + 60, "lead of about 50 ms")
        }
        try teacher.sendJSON(["type": "command", "command": "pause"])
        for p in phones { #expect(try p.readMessage(type: "state")["status"] as? String == "paused") }
        try teacher.sendJSON(["type": "command", "command": "resume"])
        for p in phones { #expect(try p.readMessage(type: "state")["status"] as? String == "running") }
        try teacher.sendJSON(["type": "command", "command": "extend", "seconds": 30])
        for p in phones {
            let s = try p.readMessage(type: "state")
            let start = try #require((s["stepStartedAt"] as? NSNumber)?.int64Value)
            let end = try #require((s["stepEndsAt"] as? NSNumber)?.int64Value)
            #expect(end - start >= 90_000 - 10)
        }
        try teacher.sendJSON(["type": "command", "command": "next"])
        for p in phones {
            let s = try p.readMessage(type: "state")
            #expect(s["step"] as? Int == 1)
            #expect(s["stepEndsAt"] is NSNull, "a distance step has no end")
        }
        try teacher.sendJSON(["type": "command", "command": "end"])
        for p in phones { #expect(try p.readMessage(type: "state")["status"] as? String == "finished") }

        // The recording holds every accepted command.
        let path = try #require(f.sessions[0].recordingPath)
        let rec = try RecordingReader.read(URL(fileURLWithPath: path))
        #expect(rec.events.compactMap(\.command) == [.start, .pause, .resume, .extend(seconds: 30), .next, .end])
    }

    @Test func participantCannotCommand() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        let (p, _) = try f.connect()
        try p.sendJSON(["type": "command", "command": "start"])
        let e = try p.readMessage(type: "error")
        #expect(e["code"] as? String == "not-instructor")
        try p.sendJSON(["type": "sync"])
        #expect(try p.readMessage(type: "state")["status"] as? String == "idle")
    }

    /// Issue 15: a console without a valid token counted as a participant in "N connected".
    @Test func consolesWithoutTheTokenAndBigScreensAreNotParticipants() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        f.classes.setBaseURL("http://192.0.2.5:8080")
        let teacher = try f.instructor()
        let (phone, welcome) = try f.connect()
        #expect(welcome["join"] as? String == "http://192.0.2.5:8080/c/TEST", "one public join link everywhere")
        let (wrongConsole, _) = try f.connect()
        try wrongConsole.sendJSON(["type": "hello", "role": "instructor", "token": "not-the-token-at-all"])
        _ = try wrongConsole.readMessage(type: "error")
        let (screen, _) = try f.connect()
        try screen.sendJSON(["type": "hello", "role": "watcher"])
        _ = phone
        var presence: [String: Any] = [:]
        for _ in 0..<20 {
            presence = try teacher.readMessage(type: "presence")
            if presence["participants"] as? Int == 1 { break }
        }
        #expect(presence["participants"] as? Int == 1)
        #expect(presence["instructors"] as? Int == 1)
        // A watcher cannot tap done or raise a stop signal.
        try screen.sendJSON(["type": "stop", "on": true])
        #expect(try screen.readMessage(type: "error")["code"] as? String == "not-participant")
    }

    /// The counts per role are kept as members come, change role and go (a join no longer walks
    /// every member): a newcomer's welcome and the HTTP view count right.
    @Test func countsPerRoleFollowJoinsRoleChangesAndLeaves() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        let teacher = try f.instructor()
        let (a, _) = try f.connect()
        var b: TestClient? = try f.connect().0
        let (screen, _) = try f.connect()
        try screen.sendJSON(["type": "hello", "role": "watcher"])
        let (wrongConsole, _) = try f.connect()
        try wrongConsole.sendJSON(["type": "hello", "role": "instructor", "token": "not-the-token-at-all"])
        _ = try wrongConsole.readMessage(type: "error")
        _ = b
        b = nil   // closes its socket: it leaves
        var presence: [String: Any] = [:]
        for _ in 0..<100 {
            let (newcomer, welcome) = try f.connect()
            presence = try #require(welcome["presence"] as? [String: Any])
            _ = newcomer
            if presence["participants"] as? Int == 2 { break }   // a and the newcomer
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(presence["participants"] as? Int == 2)
        #expect(presence["instructors"] as? Int == 1)
        var view = f.sessions[0].publicView
        for _ in 0..<100 where view.participants != 1 {   // the newcomers left again: a only
            Thread.sleep(forTimeInterval: 0.02)
            view = f.sessions[0].publicView
        }
        #expect(view.participants == 1)
        #expect(view.instructors == 1)
        _ = (a, teacher, screen)
    }

    @Test func aPhoneThatWasAwaySeesTheLastAnnouncements() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        let teacher = try f.instructor()
        for i in 1...12 {
            try teacher.sendJSON(["type": "announce", "text": "note \(i)"])
            _ = try teacher.readMessage(type: "announce")
        }
        let (_, welcome) = try f.connect()
        let list = try #require(welcome["announcements"] as? [[String: Any]])
        #expect(list.compactMap { $0["text"] as? String } == (3...12).map { "note \($0)" }, "the last 10, oldest first")
        #expect(list.allSatisfy { ($0["at"] as? NSNumber) != nil })
    }

    @Test func lateJoinerGetsCurrentStepAtOnce() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        let teacher = try f.instructor()
        try teacher.sendJSON(["type": "command", "command": "start"])
        _ = try teacher.readMessage(type: "state")
        try teacher.sendJSON(["type": "command", "command": "next"])
        _ = try teacher.readMessage(type: "state")
        let (late, welcome) = try f.connect()
        _ = late
        let state = try #require(welcome["state"] as? [String: Any])
        #expect(state["step"] as? Int == 1)
        #expect(state["status"] as? String == "running")
        #expect((state["seq"] as? Int ?? 0) >= 2)
    }

    @Test func doneShareAdvancesDistanceStep() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        let teacher = try f.instructor()
        let (a, _) = try f.connect()
        let (b, _) = try f.connect()
        try teacher.sendJSON(["type": "command", "command": "pause"])
        let err = try teacher.readMessage(type: "error")   // pause before the start makes no sense
        #expect(err["code"] as? String == "invalid-command")
        try teacher.sendJSON(["type": "command", "command": "start"])
        _ = try a.readMessage(type: "state")
        try teacher.sendJSON(["type": "command", "command": "next"])
        #expect(try a.readMessage(type: "state")["step"] as? Int == 1)
        _ = try b.readMessage(type: "state")
        try a.sendJSON(["type": "done", "step": 1])
        var presence: [String: Any] = [:]
        repeat { presence = try teacher.readMessage(type: "presence") } while (presence["done"] as? Int ?? 0) < 1
        #expect(presence["participants"] as? Int == 2)
        try b.sendJSON(["type": "done", "step": 1])
        // advanceWhenDone = 1.0: the second tap moves the class on.
        var s: [String: Any]
        repeat { s = try a.readMessage(type: "state") } while s["step"] as? Int == 1
        #expect(s["step"] as? Int == 2)
    }

    @Test func malformedAndHostileMessages() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        let (p, _) = try f.connect()
        try p.sendText("not json")
        #expect(try p.readMessage(type: "error")["code"] as? String == "bad-json")
        try p.sendJSON(["type": "dance"])
        #expect(try p.readMessage(type: "error")["code"] as? String == "unknown-type")
        try p.sendJSON(["type": "done"])
        #expect(try p.readMessage(type: "error")["code"] as? String == "bad-field")
        // Time sync is answered at once with the client's t0 echoed.
        try p.sendJSON(["type": "time", "id": 7, "t0": 1234.5])
        let t = try p.readMessage(type: "time")
        #expect((t["t0"] as? NSNumber)?.doubleValue == 1234.5)
        let t1 = try #require((t["t1"] as? NSNumber)?.int64Value)
        #expect(abs(t1 - wallClockMillis()) < 5_000)

        // A flood is cut off with 1008.
        let (flooder, _) = try f.connect()
        for _ in 0..<100 { try? flooder.sendJSON(["type": "sync"]) }
        var closeCode: [UInt8] = []
        for _ in 0..<300 {
            guard let frame = try? flooder.readFrame() else { break }
            if frame.opcode == 8 { closeCode = Array(frame.payload.prefix(2)); break }
        }
        #expect(closeCode == [0x03, 0xf0])

        // Binary messages are refused with 1003.
        let (bin, _) = try f.connect()
        try bin.send(TestClient.frame(opcode: 2, payload: [1, 2, 3]))
        var code: [UInt8] = []
        for _ in 0..<20 {
            let frame = try bin.readFrame()
            if frame.opcode == 8 { code = Array(frame.payload.prefix(2)); break }
        }
        #expect(code == [0x03, 0xeb])
    }

    @Test func twoClassesWithoutCrosstalk() throws {
        let f = try LiveFixture(plans: [("AAAA", shortPlan()), ("BBBB", shortPlan())])
        defer { f.stop() }
        let teacherA = try f.instructor(code: "AAAA")
        let (phoneA, _) = try f.connect(code: "AAAA")
        let (phoneB, welcomeB) = try f.connect(code: "BBBB")
        #expect((welcomeB["class"] as? [String: Any])?["code"] as? String == "BBBB")
        try teacherA.sendJSON(["type": "command", "command": "start"])
        #expect(try phoneA.readMessage(type: "state")["status"] as? String == "running")
        try phoneB.sendJSON(["type": "sync"])
        #expect(try phoneB.readMessage(type: "state")["status"] as? String == "idle")
        // The token of one class is the same string here, but class B never saw a command.
        let (unknown, _) = try { () throws -> (TestClient, [String: Any]) in
            let c = try TestClient(port: f.server.port)
            _ = try c.upgrade(path: "/ws?class=NOPE")
            return (c, try c.readMessage(type: "error"))
        }()
        _ = unknown
    }

    @Test func httpAPIAndMetrics() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        let c = try TestClient(port: f.server.port)
        try c.send("GET /api/classes/TEST HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try c.readResponse()
        #expect(r.status == 200)
        // The class pages' policy, supplied by LiveClass: they connect to the class's WebSocket.
        #expect(r.header("Content-Security-Policy") == ClassServer.contentSecurityPolicy)
        #expect(r.header("Content-Security-Policy")?.contains("connect-src 'self' ws: wss:") == true)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
        #expect((obj["state"] as? [String: Any])?["status"] as? String == "idle")
        try c.send("GET /api/classes/NOPE HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try c.readResponse().status == 404)
        try c.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        let m = try c.readResponse()
        #expect(m.status == 200)
        #expect(m.text.contains("classctl_connections_open"))
        #expect(m.text.contains("classctl_broadcast_fanout_seconds_count"))
    }
}
