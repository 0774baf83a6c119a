// What instructors expect from a gym timer, on the server side (issue 15): who is done and who is
// still out, "Run again" for a finished class, and the summary of the class as it was run.
import Testing
import Foundation
import TestSupport
import NetServer
import ClassEngine
@testable import LiveClass

@Suite("Gym timer over real sockets", .serialized)
struct GymTimerTests {
    @Test func theConsoleSeesWhoIsDoneAndWhoIsStillOut() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        let teacher = try f.instructor()
        let (ana, _) = try f.connect()
        let (bo, _) = try f.connect()
        let (anon, _) = try f.connect()
        _ = anon
        try ana.sendJSON(["type": "hello", "role": "participant", "name": "Ana"])
        try bo.sendJSON(["type": "hello", "role": "participant", "name": "Bo"])
        try teacher.sendJSON(["type": "command", "command": "start"])
        try teacher.sendJSON(["type": "command", "command": "next"])   // the 25 m jog
        var s = try ana.readMessage(type: "state")   // a newer state may replace an older one in the queue
        while s["step"] as? Int != 1 { s = try ana.readMessage(type: "state") }
        try ana.sendJSON(["type": "done", "step": 1])
        var p: [String: Any] = [:]
        for _ in 0..<30 {
            p = try teacher.readMessage(type: "presence")
            if p["done"] as? Int == 1 { break }
        }
        #expect(p["doneNames"] as? [String] == ["Ana"])
        #expect(Set(p["names"] as? [String] ?? []) == ["Ana", "Bo"], "Bo and one unnamed phone are still out")
        #expect(p["participants"] as? Int == 3)
    }

    @Test func aFinishedClassRunsAgainWithASummaryOfTheFirstRun() throws {
        let f = try LiveFixture(plans: [("TEST", shortPlan(stepSeconds: 1))])
        defer { f.stop() }
        let teacher = try f.instructor()
        let (phone, _) = try f.connect()
        try teacher.sendJSON(["type": "run-again"])
        #expect(try teacher.readMessage(type: "error")["code"] as? String == "invalid-command", "not while it is on")
        try teacher.sendJSON(["type": "command", "command": "start"])
        usleep(1_300_000)   // the 1 s walk ends by itself; the jog has just begun
        try teacher.sendJSON(["type": "command", "command": "end"])
        let summary = try phone.readMessage(type: "summary")
        #expect(summary["stepsRun"] as? Int == 1)
        let total = try #require((summary["totalMs"] as? NSNumber)?.intValue)
        #expect(total >= 1_000 && total < 5_000)
        let firstRecording = try #require(f.sessions[0].recordingPath)

        try teacher.sendJSON(["type": "run-again"])
        let w = try phone.readMessage(type: "welcome")
        #expect((w["state"] as? [String: Any])?["status"] as? String == "idle")
        #expect(w["summary"] == nil)
        let again = try #require(f.sessions[0].recordingPath)
        #expect(again != firstRecording, "a new run, a new recording")
        try teacher.sendJSON(["type": "command", "command": "start"])
        #expect(try phone.readMessage(type: "state")["status"] as? String == "running")
        // A phone joining a finished class gets the summary in its welcome.
        try teacher.sendJSON(["type": "command", "command": "end"])
        _ = try phone.readMessage(type: "summary")
        let (late, lateWelcome) = try f.connect()
        _ = late
        #expect((lateWelcome["summary"] as? [String: Any])?["type"] as? String == "summary")
    }
}
