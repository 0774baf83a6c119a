// "I need to stop": a participant's signal reaches every console until acknowledged, is
// counted in /metrics, recorded, and shown by the export.
import Testing
import Foundation
import TestSupport
import NetServer
import ClassEngine
@testable import LiveClass

private func alerts(_ message: [String: Any]) -> [[String: Any]] { message["alerts"] as? [[String: Any]] ?? [] }

@Suite("Stop signals over real sockets", .serialized)
struct StopSignalTests {
    @Test func signalReachesConsolesUntilAcknowledged() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        let teacher = try f.instructor()
        let (ana, welcome) = try f.connect()
        let anaID = try #require((welcome["clientId"] as? NSNumber)?.int64Value)
        try ana.sendJSON(["type": "hello", "role": "participant", "name": "Ana"])
        try teacher.sendJSON(["type": "command", "command": "start"])
        _ = try ana.readMessage(type: "state")

        try ana.sendJSON(["type": "stop", "on": true])
        let mine = try ana.readMessage(type: "stop")
        #expect(mine["on"] as? Bool == true && mine["acknowledged"] as? Bool == false)
        let list = alerts(try teacher.readMessage(type: "alerts"))
        #expect(list.count == 1)
        #expect(list.first?["name"] as? String == "Ana")
        #expect((list.first?["client"] as? NSNumber)?.int64Value == anaID)
        #expect(list.first?["step"] as? Int == 0)

        // A console that opens later sees it in its welcome.
        let second = try f.instructor()
        _ = second
        let (late, _) = try f.connect()
        try late.sendJSON(["type": "hello", "role": "instructor", "token": testToken])
        let w = try late.readMessage(type: "welcome")
        #expect(alerts(w).count == 1)

        // Only instructors acknowledge; only participants raise.
        let (other, _) = try f.connect()
        try other.sendJSON(["type": "ack-stop", "client": anaID])
        #expect(try other.readMessage(type: "error")["code"] as? String == "not-instructor")
        try teacher.sendJSON(["type": "stop", "on": true])
        #expect(try teacher.readMessage(type: "error")["code"] as? String == "not-participant")

        try teacher.sendJSON(["type": "ack-stop", "client": anaID])
        #expect(alerts(try teacher.readMessage(type: "alerts")).isEmpty)
        let ack = try ana.readMessage(type: "stop")
        #expect(ack["acknowledged"] as? Bool == true)
        #expect(f.sessions[0].publicView.stopSignals == 1)
        #expect(f.sessions[0].publicView.openStopAlerts == 0)

        // Recorded, and the export tells who stopped where.
        try teacher.sendJSON(["type": "command", "command": "end"])
        _ = try ana.readMessage(type: "state")
        let path = try #require(f.sessions[0].recordingPath)
        var rec = try RecordingReader.read(URL(fileURLWithPath: path))
        for _ in 0..<50 where !rec.events.contains(where: { $0.kind == .stopAcknowledged }) {
            usleep(20_000); rec = try RecordingReader.read(URL(fileURLWithPath: path))
        }
        #expect(rec.events.filter { $0.kind == .stopSignal }.map(\.name) == ["Ana"])
        #expect(rec.events.contains { $0.kind == .stopAcknowledged && $0.client == anaID })
        let yaml = PlanExport.yaml(from: rec)
        #expect(yaml.contains("Ana at"), "\(yaml)")
        #expect(yaml.contains("acknowledged"))
    }

    @Test func anUnnamedSignalOutlivesThePhoneAndCanBeTakenBack() throws {
        let f = try LiveFixture()
        defer { f.stop() }
        let teacher = try f.instructor()
        // Taken back before anyone acknowledged it: gone from the consoles.
        let (p, _) = try f.connect()
        try p.sendJSON(["type": "stop", "on": true])
        #expect(alerts(try teacher.readMessage(type: "alerts")).first?["name"] is NSNull)
        #expect(try p.readMessage(type: "stop")["on"] as? Bool == true)
        try p.sendJSON(["type": "stop", "on": false])
        #expect(try p.readMessage(type: "stop")["on"] as? Bool == false)
        var list = alerts(try teacher.readMessage(type: "alerts"))
        while !list.isEmpty { list = alerts(try teacher.readMessage(type: "alerts")) }
        #expect(list.isEmpty)

        // A phone that raises it and then drops off: the alert stays, marked offline.
        let (q, _) = try f.connect()
        try q.sendJSON(["type": "stop", "on": true])
        _ = try teacher.readMessage(type: "alerts")
        q.setLingerZero()
        _ = shutdown(q.fd, Int32(SHUT_RDWR))
        var stayed: [[String: Any]] = []
        for _ in 0..<20 {
            stayed = alerts(try teacher.readMessage(type: "alerts"))
            if stayed.first?["online"] as? Bool == false { break }
        }
        #expect(stayed.count == 1)
        #expect(stayed.first?["online"] as? Bool == false)

        let c = try TestClient(port: f.server.port)
        try c.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        let m = try c.readResponse().text
        #expect(m.contains(#"classctl_class_stop_signals_total{class="TEST"} 2"#), "\(m)")
        #expect(m.contains(#"classctl_class_stop_alerts_open{class="TEST"} 1"#))
    }
}

@Suite struct ClientMessageTests {
    @Test func decodingAndRoles() {
        func decode(_ s: String) -> ClientMessage? { try? ClientMessage.decode(Array(s.utf8)).get() }
        #expect(decode(#"{"type":"stop","on":true}"#) == .stop(on: true))
        #expect(decode(#"{"type":"ack-stop","client":12}"#) == .acknowledgeStop(client: 12))
        #expect(decode(#"{"type":"command","command":"restart"}"#) == .command(.restart))
        #expect(decode(#"{"type":"stop"}"#) == nil)
        #expect(ClientMessage.stop(on: true).requiredRole == .participant)
        #expect(ClientMessage.acknowledgeStop(client: 1).requiredRole == .instructor)
        #expect(ClientMessage.command(.next).requiredRole == .instructor)
        #expect(ClientMessage.sync.requiredRole == nil)
    }
}
