// Our server session against an OpenSSL client: handshakes, data both ways, close_notify,
// resumption, refused clients and hostile bytes.
import COpenSSL
import Foundation
import Testing
@testable import TLS
import TestSupport

@Suite struct HandshakeTests {
    @Test(arguments: [KeyAlgorithm.ecdsaP256, .rsa(bits: 2048)], [TLS1_3_VERSION, TLS1_2_VERSION])
    func handshakeDataAndClose(algorithm: KeyAlgorithm, maxVersion: Int32) throws {
        let pki = try TestPKI(algorithm)
        let server = try pki.context().makeSession()
        var options = OpenSSLClient.Options()
        options.trusting = pki.authority.certificate
        options.maxVersion = maxVersion
        let client = OpenSSLClient(options)

        let results = handshake(client, server)
        #expect(client.failure == nil)
        #expect(server.isHandshakeComplete)
        #expect(results.filter(\.handshakeCompleted).count == 1)
        #expect(results.allSatisfy { $0.error == nil })
        #expect(client.verifyResult == Int(X509_V_OK))  // chain and host name checked by the client
        let expectedVersion = maxVersion == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2"
        #expect(server.negotiatedProtocol == expectedVersion)
        #expect(client.version == expectedVersion)
        #expect(server.alpn == "http/1.1")
        if maxVersion == TLS1_2_VERSION {
            let prefix = algorithm == .ecdsaP256 ? "ECDHE-ECDSA-" : "ECDHE-RSA-"
            #expect(server.cipher?.hasPrefix(prefix) == true)
        }

        // Server to client, small then larger than one record.
        client.give(server.encrypt(Array("hello phone".utf8)))
        #expect(client.read() == Array("hello phone".utf8))
        let big = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        client.give(server.encrypt(big))
        #expect(client.read() == big)

        // Client to server.
        client.send(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        let request = server.receive(client.take())
        #expect(request.plaintext == Array("GET / HTTP/1.1\r\n\r\n".utf8))
        #expect(request.error == nil)
        client.send(big)
        #expect(server.receive(client.take()).plaintext == big)

        // Our close_notify reaches the client; the client's reaches us.
        let close = server.close()
        #expect(!close.isEmpty)
        client.give(close)
        _ = client.read()
        #expect(client.peerClosed)
        #expect(server.encrypt(Array("late".utf8)).isEmpty)
        client.shutdown()
        let last = server.receive(client.take())
        #expect(last.peerClosed)
        #expect(last.error == nil)
    }

    @Test func handshakeDeliveredOneByteAtATime() throws {
        let pki = try TestPKI()
        let server = try pki.context().makeSession()
        let client = OpenSSLClient()
        var completed = 0
        for _ in 0..<6 {
            let clientDone = client.step()
            for byte in client.take() {
                let result = server.receive([byte])
                #expect(result.error == nil)
                completed += result.handshakeCompleted ? 1 : 0
                client.give(result.ciphertextToSend)
            }
            if clientDone && server.isHandshakeComplete { break }
        }
        #expect(completed == 1)
        #expect(server.negotiatedProtocol == "TLSv1.3")
        client.send(Array("ping".utf8))
        var plaintext: [UInt8] = []
        for byte in client.take() { plaintext += server.receive([byte]).plaintext }
        #expect(plaintext == Array("ping".utf8))
    }

    @Test func dataEncryptedBeforeTheHandshakeIsSentWhenItCompletes() throws {
        let server = try TestPKI().context().makeSession()
        #expect(server.encrypt(Array("early".utf8)).isEmpty)
        let client = OpenSSLClient()
        handshake(client, server)
        #expect(client.read() == Array("early".utf8))
    }

    @Test func alpnIsOptional() throws {
        let context = try TestPKI().context()
        for offered in [[], ["h2"], ["h2", "http/1.1"]] {
            var options = OpenSSLClient.Options()
            options.alpn = offered
            let server = context.makeSession()
            handshake(OpenSSLClient(options), server)
            #expect(server.isHandshakeComplete)
            #expect(server.alpn == (offered.contains("http/1.1") ? "http/1.1" : nil))
        }
    }

    @Test(arguments: [TLS1_3_VERSION, TLS1_2_VERSION])
    func sessionsResume(maxVersion: Int32) throws {
        let context = try TestPKI().context()
        var options = OpenSSLClient.Options()
        options.maxVersion = maxVersion
        let first = OpenSSLClient(options)
        let firstServer = context.makeSession()
        handshake(first, firstServer)
        _ = first.read()  // TLS 1.3 tickets arrive after the handshake
        #expect(!firstServer.isResumed)
        let session = try #require(first.session())
        defer { SSL_SESSION_free(session) }

        options.session = session
        let second = OpenSSLClient(options)
        let secondServer = context.makeSession()
        handshake(second, secondServer)
        #expect(second.isResumed)
        #expect(secondServer.isResumed)
    }

    @Test(arguments: [TLS1_VERSION, TLS1_1_VERSION])
    func oldProtocolVersionsAreRefused(version: Int32) throws {
        let server = try TestPKI().context().makeSession()
        var options = OpenSSLClient.Options()
        options.minVersion = version
        options.maxVersion = version
        options.cipherList = "DEFAULT:@SECLEVEL=0"  // let the client offer TLS 1.0/1.1 at all
        let client = OpenSSLClient(options)
        let results = handshake(client, server)
        let error = try #require(results.last?.error)
        #expect(error.kind == .unsupportedVersion)
        #expect(error.reason == "unsupported protocol")
        #expect(results.last?.ciphertextToSend.isEmpty == false)  // a protocol_version alert
        #expect(client.failure != nil)
        #expect(!server.isHandshakeComplete)
    }

    @Test func plainHTTPIsRefusedCleanly() throws {
        let server = try TestPKI().context().makeSession()
        let result = server.receive(Array("GET / HTTP/1.1\r\nHost: studio.local\r\n\r\n".utf8))
        let error = try #require(result.error)
        #expect(error.kind == .plainHTTP)
        #expect(error.reason == "http request")
        #expect(result.plaintext.isEmpty)
        // The session stays failed and harmless.
        #expect(server.receive(Array("more".utf8)).error == error)
        #expect(server.encrypt(Array("x".utf8)).isEmpty)
        #expect(server.close().isEmpty)
        #expect(server.negotiatedProtocol == nil)
    }

    @Test(arguments: 1...20)
    func garbageIsRefused(seed: UInt64) throws {
        let server = try TestPKI().context().makeSession()
        var random = SeededGenerator(state: seed)
        var bytes = (0..<2048).map { _ in UInt8.random(in: 0...255, using: &random) }
        if seed.isMultiple(of: 2) {
            // A plausible record header (handshake, TLS 1.0 record version, length) over junk.
            bytes.replaceSubrange(0..<5, with: [0x16, 0x03, 0x01, 0x02, 0x00])
        }
        var error: TLSError?
        for chunk in stride(from: 0, to: bytes.count, by: 300) where error == nil {
            error = server.receive(Array(bytes[chunk..<min(chunk + 300, bytes.count)])).error
        }
        #expect(error != nil)
        #expect(!server.isHandshakeComplete)
    }

    @Test func forgedRecordAfterTheHandshakeIsRefused() throws {
        let server = try TestPKI().context().makeSession()
        handshake(OpenSSLClient(), server)
        var random = SeededGenerator(state: 7)
        let forged = [0x17, 0x03, 0x03, 0x00, 0x40] + (0..<64).map { _ in UInt8.random(in: 0...255, using: &random) }
        let result = server.receive(forged)
        #expect(result.error?.kind == .protocolError)
        #expect(result.error?.reason == "decryption failed or bad record mac")
        #expect(result.ciphertextToSend.isEmpty == false)  // bad_record_mac alert
    }
}
