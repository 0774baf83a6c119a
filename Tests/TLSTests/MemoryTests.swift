// What an idle TLS connection costs: the SSL object and its BIO after the handshake, with
// SSL_MODE_RELEASE_BUFFERS. nginx needs about 15 KiB; we must not need more.
import COpenSSL
import Foundation
import Testing
@testable import TLS

@Suite struct MemoryTests {
    private static let childVariable = "CLASSCTL_TLS_MEMORY_CHILD"

    /// Other suites allocate in parallel in this process, which would blur a heap measurement,
    /// so each measurement runs alone: this test re-runs the test binary for just this suite,
    /// once per protocol version (a fresh heap each, so the RSS figures mean something too).
    @Test func idleSessionsStaySmall() throws {
        if let version = ProcessInfo.processInfo.environment[Self.childVariable].flatMap({ Int32($0) }) {
            try measure(maxVersion: version)
            return
        }
        for version in [TLS1_3_VERSION, TLS1_2_VERSION] {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            child.arguments = ["--testing-library", "swift-testing", "--filter", "TLSTests.MemoryTests"]
            child.environment = ProcessInfo.processInfo.environment.merging([Self.childVariable: String(version)]) { $1 }
            let output = Pipe()
            child.standardOutput = output
            child.standardError = output
            try child.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            child.waitUntilExit()
            let figures = text.split(separator: "\n").filter { $0.hasPrefix("idle TLS") }
            figures.forEach { print($0) }
            #expect(child.terminationStatus == 0, "\(text)")
            #expect(figures.count == 1, "\(text)")
        }
    }

    private func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    private func measure(maxVersion: Int32) throws {
        let count = 2000
        let context = try TestPKI().context()
        var options = OpenSSLClient.Options()
        options.maxVersion = maxVersion
        // Warm up lazily allocated OpenSSL state (providers, method tables) before measuring.
        for _ in 0..<20 { handshake(OpenSSLClient(options), context.makeSession()) }

        var sessions: [TLSSession] = []
        sessions.reserveCapacity(count)
        let residentBefore = residentBytes()
        let heapBefore = copenssl_heap_bytes_in_use()
        for _ in 0..<count {
            let session = context.makeSession()
            let client = OpenSSLClient(options)
            handshake(client, session)
            // One small message each way, as a phone's first request would.
            client.send(Array("GET /ws HTTP/1.1\r\nHost: studio.local\r\n\r\n".utf8))
            _ = session.receive(client.take())
            client.give(session.encrypt([UInt8](repeating: 0x41, count: 300)))
            _ = client.read()
            #expect(session.isHandshakeComplete)
            #expect(session.bufferedByteCount == 0)
            sessions.append(session)
        }
        // Heap in use counts exactly what the live sessions keep (the clients are freed as we
        // go); RSS growth adds the holes those freed clients leave, and is printed for scale.
        let perSession = (Int(copenssl_heap_bytes_in_use()) - Int(heapBefore)) / count
        let residentPerSession = (residentBytes() - residentBefore) / count
        let version = maxVersion == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2"
        print("idle \(version) session: \(perSession) bytes of heap each, \(residentPerSession) bytes of RSS growth each (\(count) sessions)")
        // TLS 1.2 sessions also sit in the server's session cache (at most 1024 entries).
        #expect(perSession <= 15 * 1024)
        withExtendedLifetime(sessions) {}
    }
}
