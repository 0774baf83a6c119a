import Testing
import Foundation
import Dispatch
import TestSupport
@testable import NetServer

/// 20,000 connect / upgrade / close cycles mixing clean closes, abrupt resets and
/// half-open peers: no crash, no descriptor leak, no memory growth.
@Suite("Connection churn", .serialized)
struct ChurnTests {
    enum Ending: CaseIterable { case clean, reset, vanish, httpOnly }

    static func cycle(port: Int, _ ending: Ending, parked: inout [TestClient]) throws {
        let c = try TestClient(port: port)
        if ending == .httpOnly {
            try c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            _ = try c.readResponse()
            return
        }
        let r = try c.upgrade()
        guard r.status == 101 else { throw TestClientError(description: "upgrade \(r.status)") }
        try c.sendText("hi")
        _ = try c.readText()
        switch ending {
        case .clean:
            try c.send(TestClient.frame(opcode: 8, payload: [0x03, 0xe8]))
            _ = try c.readFrame()
            _ = try c.readToEOF()
        case .reset:
            c.setLingerZero()      // close() sends RST
        case .vanish:
            parked.append(c)       // keeps the socket open and silent: a phone gone to sleep
        case .httpOnly:
            break
        }
    }

    @Test func twentyThousandCycles() throws {
        let (server, _) = try makeServer { config in
            config.webSocketSilenceTimeoutMs = 1_000   // so vanished peers are reaped quickly
            config.pingIntervalMs = 400
        }
        let port = server.port
        let workers = 8
        func run(_ total: Int) throws {
            let errors = ErrorBox()
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var parked: [TestClient] = []
                for i in 0..<(total / workers) {
                    let ending = Ending.allCases[(i + w) % Ending.allCases.count]
                    do { try ChurnTests.cycle(port: port, ending, parked: &parked) } catch { errors.add("\(error)") }
                    if parked.count > 25 { parked.removeFirst(5) }   // the oldest go away for good (FIN), others stay silent
                }
                // Keep the last silent peers open until the server reaps them.
                Thread.sleep(forTimeInterval: 2.5)
                _ = parked
            }
            #expect(errors.count == 0, "\(errors.first ?? "")")
        }
        func settle() {
            for _ in 0..<100 where server.openConnections > 0 { usleep(50_000) }
        }

        try run(2_000)                 // warm-up: caches, thread pools, allocator arenas
        settle()
        let fdBefore = openDescriptorCount()
        let rssBefore = residentKiB()
        try run(20_000)
        settle()
        #expect(server.openConnections == 0)
        let fdAfter = openDescriptorCount()
        let rssAfter = residentKiB()
        #expect(fdAfter <= fdBefore, "descriptors before \(fdBefore), after \(fdAfter)")
        #expect(rssAfter - rssBefore < 8 * 1024, "RSS grew from \(rssBefore) KiB to \(rssAfter) KiB")
        let stats = server.currentStats()
        #expect(stats.accepted >= 22_000)
        #expect(stats.accepted == stats.closed)
        print("churn: \(stats.accepted) connections, fds \(fdBefore) -> \(fdAfter), RSS \(rssBefore) -> \(rssAfter) KiB")
        server.shutdown()
    }
}

final class ErrorBox: @unchecked Sendable {   // guarded by `lock`
    private let lock = NSLock()
    private var errors: [String] = []
    func add(_ e: String) { lock.lock(); errors.append(e); lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return errors.count }
    var first: String? { lock.lock(); defer { lock.unlock() }; return errors.first }
}
