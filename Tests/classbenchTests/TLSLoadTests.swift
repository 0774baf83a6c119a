import Foundation
import Glibc
import NetServer
import TLS
import Testing
@testable import classbench

/// Relays every text message to all open connections, the sender included (like ws-echo --broadcast).
private final class RelayDelegate: WebSocketDelegate {
    let group: BroadcastGroup
    init(group: BroadcastGroup) { self.group = group }
    func webSocketDidOpen(_ c: Connection) { group.add(c) }
    func webSocket(_ c: Connection, didReceiveText text: [UInt8]) { group.broadcast(text: text) }
}

/// Set before the server starts, read-only afterwards.
private final class GroupHolder: @unchecked Sendable { var group: BroadcastGroup? }

/// The project's own server serving wss:// on 127.0.0.1 with a certificate from a CA made
/// for the test, and that CA's certificate in a PEM file for --tls-ca.
private final class SecureRelay {
    let server: Server
    let directory: String
    let authorityFile: String

    init(names: [String] = ["localhost", "127.0.0.1"]) throws {
        let authority = try LocalCertificateAuthority.create(commonName: "classbench test CA")
        let (certificate, key) = try authority.issueServerCertificate(for: ServerNames(names))
        directory = NSTemporaryDirectory() + "/classbench-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        authorityFile = directory + "/ca.pem"
        try authority.certificate.pem.write(toFile: authorityFile, atomically: false, encoding: .utf8)

        var config = ServerConfiguration()
        config.port = 0
        config.loopCount = 2
        config.tls = try TLSServerContext.make(certificatePEM: Array((certificate.pem + authority.certificate.pem).utf8),
                                               keyPEM: Array(try key.pem().utf8))
        let holder = GroupHolder()
        config.webSocketRoute = { _, _ in RelayDelegate(group: holder.group!) }
        server = Server(configuration: config)
        holder.group = server.makeBroadcastGroup()
        try server.start()
    }

    func url(host: String = "127.0.0.1") -> String { "wss://\(host):\(server.port)/ws" }

    func stop() {
        server.shutdown(timeout: 1)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A CA file that did not sign the server's certificate.
private func unrelatedAuthorityFile(in directory: String) throws -> String {
    let other = try LocalCertificateAuthority.create(commonName: "some other CA")
    let file = directory + "/other-ca.pem"
    try other.certificate.pem.write(toFile: file, atomically: false, encoding: .utf8)
    return file
}

/// End-to-end over TLS: the epoll client against NetServer with a TLSServerContext.
@Suite(.serialized) struct TLSLoadTests {
    @Test func latencyModeOverWSSDeliversEverything() throws {
        let relay = try SecureRelay()
        defer { relay.stop() }
        // 50 broadcasts/s for 0.4 s: exactly 20 broadcasts to 24 subscribers, unverified.
        let generator = try LoadGenerator(config: testConfig(url: relay.url(), connections: 24, rate: 50, duration: 0.4, size: 256))
        let result = try generator.run()
        generator.closeAll()

        #expect(result.subscribersOpen == 24)
        #expect(result.counters.publisherOpen)
        #expect(result.broadcasts == 20)
        #expect(result.counters.deliveries == 24 * 20)
        #expect(result.lost == 0)
        #expect(result.counters.duplicates == 0)
        #expect(result.counters.handshakeErrors == 0)
        #expect(result.counters.tlsHandshakeErrors == 0)
        #expect(result.fanout.count == 20)
        // 256-byte messages: everything counted is decrypted payload plus frame headers.
        #expect(result.counters.bytesReceived >= UInt64(25 * 20 * 256))
        #expect(result.jsonLine.contains(#""tls":true,"tls_verified":false"#))
        #expect(result.summaryLines[0].contains("transport=wss"))
    }

    @Test func theRightCAVerifiesTheChainAndHostName() throws {
        let relay = try SecureRelay()
        defer { relay.stop() }
        // localhost: SNI and a DNS-name check; 127.0.0.1 would be an IP-address check.
        for host in ["localhost", "127.0.0.1"] {
            let generator = try LoadGenerator(config: testConfig(url: relay.url(host: host), connections: 5, rate: 50, duration: 0.1,
                                                             caFile: relay.authorityFile))
            let result = try generator.run()
            generator.closeAll()
            #expect(result.subscribersOpen == 5, "\(host)")
            #expect(result.counters.tlsHandshakeErrors == 0, "\(host)")
            #expect(result.lost == 0, "\(host)")
            #expect(result.broadcasts == 5, "\(host)")
            #expect(result.jsonLine.contains(#""tls":true,"tls_verified":true"#))
        }
    }

    @Test func aWrongCAFailsEveryConnectionWithAVerificationReason() throws {
        let relay = try SecureRelay()
        defer { relay.stop() }
        let otherCA = try unrelatedAuthorityFile(in: relay.directory)
        let generator = try LoadGenerator(config: testConfig(url: relay.url(), connections: 3, rate: 10, duration: 0.1, caFile: otherCA))
        let result = try generator.run()
        generator.closeAll()

        #expect(result.subscribersOpen == 0)
        #expect(!result.counters.publisherOpen)
        #expect(result.broadcasts == 0)
        // 3 subscribers + the publisher, each tried `maxAttempts` times, every time refused.
        #expect(result.counters.tlsHandshakeErrors == 4 * BenchConfig.maxAttempts)
        #expect(result.counters.handshakeErrors == 4 * BenchConfig.maxAttempts)
        #expect(result.counters.failedForGood == 4)
        let reason = result.counters.firstTLSError ?? ""
        #expect(reason.contains("certificate verify failed"), "\(reason)")
        #expect(result.jsonLine.contains(#""tls_handshake_errors":20"#))
        #expect(result.summaryLines.contains { $0.contains("TLS handshake failures: 20") })
        // With nothing open the conn/s figure is 0.0; an Int 0 there used to shift the later %d fields.
        #expect(result.summaryLines.contains { $0.contains("failed=4 retries=16 deflate=0/0") }, "\(result.summaryLines)")
    }

    @Test func aCertificateForAnotherNameFailsVerification() throws {
        let relay = try SecureRelay(names: ["localhost"])
        defer { relay.stop() }
        let generator = try LoadGenerator(config: testConfig(url: relay.url(host: "127.0.0.1"), connections: 1, rate: 10, duration: 0.1,
                                                         caFile: relay.authorityFile))
        let result = try generator.run()
        generator.closeAll()

        #expect(result.subscribersOpen == 0)
        let reason = result.counters.firstTLSError ?? ""
        #expect(reason.contains("certificate verify failed") && reason.contains("IP address mismatch"), "\(reason)")
    }

    @Test func anUnreadableCAFileIsAClearError() throws {
        let url = "wss://127.0.0.1:1/"
        #expect(throws: TLSClientError.self) {
            _ = try LoadGenerator(config: testConfig(url: url, connections: 1, rate: 10, duration: 0.1, caFile: "/nonexistent/ca.pem"))
        }
    }
}
