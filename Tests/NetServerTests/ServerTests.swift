import Testing
import Foundation
import Dispatch
import TestSupport
@testable import NetServer
import HTTPCodec
import WebSocketCodec

/// Echoes text; joins the relay group when given one.
final class TestDelegate: WebSocketDelegate {
    let group: BroadcastGroup?
    init(group: BroadcastGroup? = nil) { self.group = group }
    func webSocketDidOpen(_ c: Connection) { group?.add(c) }
    func webSocket(_ c: Connection, didReceiveText text: [UInt8]) {
        if let g = group { g.broadcast(text: text) } else { c.send(text: text) }
    }
}

final class GroupBox: @unchecked Sendable { var group: BroadcastGroup? }  // set before start, then read-only

func makeServer(relay: Bool = false, webRoot: String? = nil, _ tweak: (inout ServerConfiguration) -> Void = { _ in }) throws -> (Server, GroupBox) {
    var config = ServerConfiguration()
    config.port = 0
    config.loopCount = 2
    config.webRoot = webRoot
    let box = GroupBox()
    config.webSocketRoute = { req, _ in
        guard req.path == "/ws" else { return nil }
        return TestDelegate(group: relay ? box.group : nil)
    }
    tweak(&config)
    let server = Server(configuration: config)
    box.group = server.makeBroadcastGroup()
    try server.start()
    return (server, box)
}

/// `count` clients upgraded to WebSocket on `/ws`.
func openWebSockets(_ count: Int, port: Int) throws -> [TestClient] {
    try (0..<count).map { _ in
        let c = try TestClient(port: port)
        #expect(try c.upgrade().status == 101)
        return c
    }
}

func makeWebRoot() throws -> String {
    let dir = NSTemporaryDirectory() + "classctl-webroot-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
    let html = "<!doctype html><title>class</title>" + String(repeating: "<p>backward walk</p>", count: 100)
    try html.write(toFile: dir + "/index.html", atomically: true, encoding: .utf8)
    try "body{color:#000}".write(toFile: dir + "/sub/style.css", atomically: true, encoding: .utf8)
    try "secret".write(toFile: dir + "/../classctl-outside-\(UUID().uuidString)", atomically: true, encoding: .utf8)
    // A symlink leading out of the root must not be followed.
    try? FileManager.default.createSymbolicLink(atPath: dir + "/escape", withDestinationPath: "/etc")
    return dir
}

@Suite("HTTP over real sockets", .serialized)
struct HTTPServerTests {
    @Test func healthz() throws {
        let (server, _) = try makeServer()
        defer { server.shutdown() }
        let c = try TestClient(port: server.port)
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try c.readResponse()
        #expect(r.status == 200)
        #expect(r.text == "ok\n")
        #expect(r.header("X-Content-Type-Options") == "nosniff")
        #expect(r.header("Content-Security-Policy")?.contains("default-src 'self'") == true)
        #expect(r.header("Referrer-Policy") == "no-referrer")
    }

    @Test func contentSecurityPolicyIsConfigured() throws {
        let (server, _) = try makeServer { $0.contentSecurityPolicy = "default-src 'none'" }
        defer { server.shutdown() }
        let c = try TestClient(port: server.port)
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try c.readResponse().header("Content-Security-Policy") == "default-src 'none'")
        let (quiet, _) = try makeServer { $0.contentSecurityPolicy = nil }
        defer { quiet.shutdown() }
        let d = try TestClient(port: quiet.port)
        try d.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try d.readResponse().header("Content-Security-Policy") == nil)
    }

    @Test func ipv6Loopback() throws {
        let (server, _) = try makeServer { $0.host = "::1" }
        defer { server.shutdown() }
        let c = try TestClient(port: server.port, host: "::1")
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try c.readResponse().status == 200)
    }

    @Test func staticFilesWithRevalidationAndGzip() throws {
        let root = try makeWebRoot()
        let (server, _) = try makeServer(webRoot: root)
        defer { server.shutdown() }
        let c = try TestClient(port: server.port)
        try c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try c.readResponse()
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "text/html; charset=utf-8")
        #expect(r.text.hasPrefix("<!doctype html>"))
        let etag = try #require(r.header("ETag"))
        #expect(r.header("Last-Modified") != nil)
        #expect(r.header("Cache-Control") != nil)

        try c.send("GET /index.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: \(etag)\r\n\r\n")
        let r304 = try c.readResponse()
        #expect(r304.status == 304)
        #expect(r304.body.isEmpty)

        try c.send("GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\n\r\n")
        let gz = try c.readResponse()
        #expect(gz.header("Content-Encoding") == "gzip")
        #expect(gz.header("Vary") == "Accept-Encoding")
        #expect(gz.body.count < r.body.count)
        #expect(Array(gz.body.prefix(2)) == [0x1f, 0x8b])

        try c.send("HEAD /sub/style.css HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try c.readResponse(head: true)
        #expect(head.status == 200)
        #expect(head.header("Content-Type") == "text/css; charset=utf-8")
        #expect(head.header("Content-Length") == "16")
    }

    @Test(arguments: ["/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/sub/..%2f..%2fetc%2fpasswd", "/escape/passwd", "/.hidden", "/index.html%00.css", "/sub%2fstyle.css"])
    func traversalRefused(path: String) throws {
        let root = try makeWebRoot()
        try "x".write(toFile: root + "/.hidden", atomically: true, encoding: .utf8)
        let (server, _) = try makeServer(webRoot: root)
        defer { server.shutdown() }
        let c = try TestClient(port: server.port)
        try c.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try c.readResponse()
        #expect(r.status == 404 || r.status == 400, "\(path) -> \(r.status)")
        #expect(!r.text.contains("root:"))
    }

    @Test func keepAliveAndPipelining() throws {
        let (server, _) = try makeServer()
        defer { server.shutdown() }
        let c = try TestClient(port: server.port)
        try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nHEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try c.readResponse().status == 200)
        #expect(try c.readResponse().status == 404)
        let h = try c.readResponse(head: true)
        #expect(h.status == 200)
        #expect(h.body.isEmpty)
        // HTTP/1.0 without keep-alive closes after the response.
        try c.send("GET /healthz HTTP/1.0\r\n\r\n")
        #expect(try c.readResponse().status == 200)
        #expect(try c.readToEOF().isEmpty)
    }

    @Test func methodErrors() throws {
        let (server, _) = try makeServer()
        defer { server.shutdown() }
        let c = try TestClient(port: server.port)
        try c.send("DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try c.readResponse()
        #expect(r.status == 405)
        #expect(r.header("Allow") == "GET, HEAD")
        try c.send("BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try c.readResponse().status == 501)
    }

    @Test func malformedRequestGets400AndClose() throws {
        let (server, _) = try makeServer()
        defer { server.shutdown() }
        let c = try TestClient(port: server.port)
        try c.send("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
        let r = try c.readResponse()
        #expect(r.status == 400)
        #expect(r.header("Connection") == "close")
        #expect(try c.readToEOF().isEmpty)
    }

    @Test func headerTimeoutAnswers408() throws {
        let (server, _) = try makeServer { $0.headerTimeoutMs = 300 }
        defer { server.shutdown() }
        let c = try TestClient(port: server.port)
        try c.send("GET / HTTP/1.1\r\nHost: x\r\n")   // never finishes the head
        let r = try c.readResponse()
        #expect(r.status == 408)
        #expect(try c.readToEOF().isEmpty)
    }

    @Test func idleKeepAliveTimeoutCloses() throws {
        let (server, _) = try makeServer { $0.idleTimeoutMs = 300 }
        defer { server.shutdown() }
        let c = try TestClient(port: server.port)
        let start = Date()
        #expect(try c.readToEOF().isEmpty)
        #expect(Date().timeIntervalSince(start) < 4)
    }
}

@Suite("WebSocket over real sockets", .serialized)
struct WebSocketServerTests {
    @Test func echoAndCloseHandshake() throws {
        let (server, _) = try makeServer()
        defer { server.shutdown() }
        let c = try TestClient(port: server.port)
        let r = try c.upgrade()
        #expect(r.status == 101)
        #expect(r.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        try c.sendText("short quick steps")
        #expect(try c.readText() == "short quick steps")
        let big = String(repeating: "don't look down ", count: 5000)
        try c.sendText(big)
        #expect(try c.readText() == big)
        try c.send(TestClient.frame(opcode: 8, payload: [0x03, 0xe8]))
        let close = try c.readFrame()
        #expect(close.opcode == 8)
        #expect(close.payload.prefix(2) == [0x03, 0xe8])
        #expect(try c.readToEOF().isEmpty)
    }

    @Test func unmaskedClientFrameIsProtocolError() throws {
        let (server, _) = try makeServer()
        defer { server.shutdown() }
        let c = try TestClient(port: server.port)
        _ = try c.upgrade()
        try c.send([0x81, 0x02, 0x68, 0x69])
        let close = try c.readFrame()
        #expect(close.opcode == 8)
        #expect(close.payload.prefix(2) == [0x03, 0xea])  // 1002
    }

    @Test func foreignOriginRefused() throws {
        let (server, _) = try makeServer()
        defer { server.shutdown() }
        let c = try TestClient(port: server.port)
        let r = try c.upgrade(extraHeaders: "Origin: https://evil.example\r\n")
        #expect(r.status == 403)
        let ok = try TestClient(port: server.port)
        #expect(try ok.upgrade(extraHeaders: "Origin: http://127.0.0.1\r\n").status == 101)
    }

    @Test func unknownWebSocketPathIs404() throws {
        let (server, _) = try makeServer()
        defer { server.shutdown() }
        let c = try TestClient(port: server.port)
        #expect(try c.upgrade(path: "/elsewhere").status == 404)
    }

    @Test func broadcastReachesEveryMember() throws {
        let (server, box) = try makeServer(relay: true)
        defer { server.shutdown() }
        let clients = try openWebSockets(50, port: server.port)
        // Membership is added on the loops; wait until all joined.
        for _ in 0..<100 where box.group!.count() < 50 { usleep(10_000) }
        #expect(box.group!.count() == 50)
        try clients[0].sendText("step 2: backward jog")
        for c in clients { #expect(try c.readText() == "step 2: backward jog") }
    }

    /// Joins and messages reach a loop in the order they were made: a member added just before a
    /// broadcast gets it even while the loops are busy fanning out a backlog to everyone else.
    @Test func aMemberAddedBeforeABroadcastGetsIt() throws {
        final class Opened: WebSocketDelegate, Sendable {
            let list = Locked<[Connection]>([])
            func webSocketDidOpen(_ c: Connection) { list.withLock { $0.append(c) } }
            func webSocket(_ c: Connection, didReceiveText text: [UInt8]) {}
        }
        let opened = Opened()
        var config = ServerConfiguration()
        config.port = 0
        config.loopCount = 2
        config.webSocketRoute = { req, _ in opened }
        let server = Server(configuration: config)
        let group = server.makeBroadcastGroup()
        try server.start()
        defer { server.shutdown() }
        var clients = try openWebSockets(300, port: server.port)
        for _ in 0..<300 where opened.list.withLock({ $0.count }) < 300 { usleep(10_000) }
        let members = opened.list.withLock { $0 }
        for c in members { group.add(c) }
        for _ in 0..<300 where group.count() < 300 { usleep(10_000) }
        for round in 0..<20 {
            let late = try TestClient(port: server.port)
            #expect(try late.upgrade().status == 101)
            for _ in 0..<300 where opened.list.withLock({ $0.count }) < 301 + round { usleep(10_000) }
            let connection = opened.list.withLock { $0.last! }
            for i in 0..<20 { group.broadcast(text: Array("backlog \(round).\(i)".utf8)) }
            group.add(connection)
            group.broadcast(text: Array("after join \(round)".utf8))
            #expect(try late.readText() == "after join \(round)", "round \(round)")
            // Everyone else reads the round, so no queue grows across rounds.
            for c in clients {
                var t = ""
                while t != "after join \(round)" { t = try c.readText() }
            }
            clients.append(late)
        }
    }

    @Test func slowReaderIsDroppedWithoutDelayingOthers() throws {
        let (server, box) = try makeServer(relay: true) { $0.maxOutboundBytes = 256 << 10 }
        defer { server.shutdown() }
        let slow = try TestClient(port: server.port)
        _ = try slow.upgrade()
        let fast = try TestClient(port: server.port)
        _ = try fast.upgrade()
        for _ in 0..<100 where box.group!.count() < 2 { usleep(10_000) }
        let payload = [UInt8](repeating: 0x61, count: 16 << 10)
        // The slow client never reads: its kernel buffers and then its queue fill up.
        for i in 0..<400 {
            box.group!.broadcast(text: payload + Array("\(i)".utf8))
            _ = try fast.readText()
        }
        for _ in 0..<100 where box.group!.count() > 1 { usleep(10_000) }
        #expect(box.group!.count() == 1)
        #expect(server.currentStats().slowClientsDropped == 1)
    }

    @Test func supersedableMessagesReplaceQueuedOnes() throws {
        let (server, box) = try makeServer(relay: true) { $0.maxOutboundBytes = 64 << 20 }
        defer { server.shutdown() }
        let c = try TestClient(port: server.port)
        _ = try c.upgrade()
        for _ in 0..<100 where box.group!.count() < 1 { usleep(10_000) }
        // Fill the socket (and loopback's kernel buffers) so later messages queue up in the server.
        let filler = [UInt8](repeating: 0x62, count: 64 << 10)
        for _ in 0..<300 { box.group!.broadcast(text: filler) }
        for i in 0..<50 { box.group!.broadcast(text: Array("state \(i)".utf8), kind: .supersedable) }
        box.group!.broadcast(text: Array("announce".utf8))
        var states: [String] = []
        var sawAnnounce = false
        while !sawAnnounce {
            let t = try c.readText()
            if t.hasPrefix("state") { states.append(t) }
            if t == "announce" { sawAnnounce = true }
        }
        #expect(states.last == "state 49")
        #expect(states.count < 50)
        #expect(server.currentStats().supersededMessages > 0)
    }

    /// A burst to members with empty queues goes out in one gathered write per member (the
    /// fan-out's write-through path): every announcement, in order; states only ever newer,
    /// ending with the last one.
    @Test func aBurstKeepsOrderAndEndsWithTheLastState() throws {
        let (server, box) = try makeServer(relay: true)
        defer { server.shutdown() }
        let clients = try openWebSockets(40, port: server.port)
        for _ in 0..<100 where box.group!.count() < 40 { usleep(10_000) }
        for i in 0..<200 {
            if i % 10 == 0 { box.group!.broadcast(text: Array("announce \(i)".utf8)) }
            box.group!.broadcast(text: Array("state \(i)".utf8), kind: .supersedable)
        }
        box.group!.broadcast(text: Array("end".utf8))
        for c in clients {
            var announcements: [Int] = [], states: [Int] = []
            while true {
                let t = try c.readText()
                if t == "end" { break }
                let n = Int(t.split(separator: " ")[1])!
                if t.hasPrefix("announce") { announcements.append(n) } else { states.append(n) }
            }
            #expect(announcements == Array(stride(from: 0, to: 200, by: 10)))
            #expect(states == states.sorted() && Set(states).count == states.count)
            #expect(states.last == 199)
        }
    }

    @Test func gracefulShutdownSendsGoingAway() throws {
        let (server, _) = try makeServer()
        let c = try TestClient(port: server.port)
        _ = try c.upgrade()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { server.shutdown(timeout: 2); done.signal() }
        let f = try c.readFrame()
        #expect(f.opcode == 8)
        #expect(f.payload.prefix(2) == [0x03, 0xe9])  // 1001
        try c.send(TestClient.frame(opcode: 8, payload: [0x03, 0xe9]))
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(server.openConnections == 0)
    }
}
