// Loading certificate/key files: one test per error message, passphrases, reload.
import COpenSSL
import Foundation
import Testing
@testable import TLS

@Suite struct ConfigurationErrorTests {
    private func loadError(certificate: String, key: String, passphrase: String? = nil) -> TLSConfigurationError? {
        do {
            _ = try TLSServerContext.load(certificateFile: certificate, keyFile: key, passphrase: passphrase)
            return nil
        } catch {
            return error
        }
    }

    @Test func loadsAGoodPair() throws {
        let dir = try TemporaryDirectory()
        let pki = try TestPKI(names: ["studio.local", "192.168.1.20"])
        let files = try pki.write(to: dir)
        let context = try TLSServerContext.load(certificateFile: files.certificate, keyFile: files.key)
        #expect(context.certificateInfo.dnsNames == ["studio.local"])
        #expect(context.certificateInfo.ipAddresses == ["192.168.1.20"])
        #expect(context.certificateInfo.subject == "CN=studio.local")
        #expect(context.certificateInfo.issuer == "CN=classctl test CA,O=classctl")
    }

    @Test func missingFile() throws {
        let dir = try TemporaryDirectory()
        let files = try TestPKI().write(to: dir)
        let error = try #require(loadError(certificate: dir.path + "/nope.pem", key: files.key))
        #expect(error.kind == .fileMissing)
        #expect(error.description == "certificate file '\(dir.path)/nope.pem' does not exist")
        let keyError = try #require(loadError(certificate: files.certificate, key: dir.path + "/missing/key.pem"))
        #expect(keyError.description == "key file '\(dir.path)/missing/key.pem' does not exist")
    }

    // As root (how CI runs), chmod 000 does not stop reading; a directory path stands in for
    // "exists but cannot be read", and the permission case runs for ordinary users.
    @Test func unreadablePathIsADirectory() throws {
        let dir = try TemporaryDirectory()
        let files = try TestPKI().write(to: dir)
        let error = try #require(loadError(certificate: files.certificate, key: dir.path))
        #expect(error.kind == .fileUnreadable)
        #expect(error.description == "key file '\(dir.path)' cannot be read: it is a directory, not a file")
    }

    @Test(.enabled(if: geteuid() != 0, "root reads files whatever their mode"))
    func unreadableFileWithoutPermission() throws {
        let dir = try TemporaryDirectory()
        let files = try TestPKI().write(to: dir)
        chmod(files.key, 0)
        let error = try #require(loadError(certificate: files.certificate, key: files.key))
        #expect(error.kind == .fileUnreadable)
        #expect(error.description == "key file '\(files.key)' cannot be read: Permission denied")
    }

    @Test func notPEM() throws {
        let dir = try TemporaryDirectory()
        let files = try TestPKI().write(to: dir)
        // DER bytes, as `openssl x509 -outform der` writes them.
        let der = try dir.file("server.der", String(decoding: [0x30, 0x82, 0x01, 0x0A, 0x02, 0x01], as: UTF8.self))
        let error = try #require(loadError(certificate: der, key: files.key))
        #expect(error.kind == .notPEM)
        #expect(error.description.hasPrefix("certificate file '\(der)' is not in PEM format: expected '-----BEGIN CERTIFICATE-----' blocks"))
        let keyError = try #require(loadError(certificate: files.certificate, key: try dir.file("key.txt", "hello\n")))
        #expect(keyError.kind == .notPEM)
        #expect(keyError.description.contains("expected a '-----BEGIN PRIVATE KEY-----' block"))
    }

    @Test func swappedFiles() throws {
        let dir = try TemporaryDirectory()
        let files = try TestPKI().write(to: dir)
        let error = try #require(loadError(certificate: files.key, key: files.certificate))
        #expect(error.kind == .noCertificate)
        #expect(error.description == "certificate file '\(files.key)' contains no certificate (it holds: PRIVATE KEY); were the certificate and key files swapped?")
        // With the key right, the certificate file alone is checked for a key next.
        let keyError = try #require(loadError(certificate: files.certificate, key: files.certificate))
        #expect(keyError.kind == .noPrivateKey)
        #expect(keyError.description == "key file '\(files.certificate)' contains no private key (it holds: CERTIFICATE, CERTIFICATE); were the certificate and key files swapped?")
    }

    @Test func keyDoesNotMatch() throws {
        let dir = try TemporaryDirectory()
        let one = try TestPKI().write(to: dir, prefix: "one")
        let two = try TestPKI().write(to: dir, prefix: "two")
        let error = try #require(loadError(certificate: one.certificate, key: two.key))
        #expect(error.kind == .keyMismatch)
        #expect(error.description == "the private key in '\(two.key)' does not match the certificate in '\(one.certificate)'; use the key that was generated with this certificate")
    }

    @Test func chainInTheWrongOrder() throws {
        let dir = try TemporaryDirectory()
        let pki = try TestPKI()
        // The CA's own key with a file listing the server certificate first and the CA second.
        let key = try dir.file("ca-key.pem", try pki.authority.key.pem())
        let chain = try dir.file("chain.pem", pki.certificate.pem + pki.authority.certificate.pem)
        let error = try #require(loadError(certificate: chain, key: key))
        #expect(error.kind == .keyMismatch)
        #expect(error.description.contains("belongs to certificate #2"))
    }

    @Test func encryptedKey() throws {
        let dir = try TemporaryDirectory()
        let files = try TestPKI().write(to: dir, passphrase: "correct horse")
        let noPassphrase = try #require(loadError(certificate: files.certificate, key: files.key))
        #expect(noPassphrase.kind == .passphraseRequired)
        #expect(noPassphrase.description == "key file '\(files.key)' is encrypted and no passphrase was given")
        let wrong = try #require(loadError(certificate: files.certificate, key: files.key, passphrase: "battery staple"))
        #expect(wrong.kind == .wrongPassphrase)
        #expect(wrong.description == "wrong passphrase for the encrypted key file '\(files.key)'")
        #expect(loadError(certificate: files.certificate, key: files.key, passphrase: "correct horse") == nil)
    }

    @Test func corruptCertificate() throws {
        let dir = try TemporaryDirectory()
        let pki = try TestPKI()
        let files = try pki.write(to: dir)
        var lines = pki.certificate.pem.split(separator: "\n").map(String.init)
        lines[2] = String(repeating: "!", count: lines[2].count)
        let broken = try dir.file("broken.pem", lines.joined(separator: "\n") + "\n")
        let error = try #require(loadError(certificate: broken, key: files.key))
        #expect(error.kind == .invalidCertificate)
        #expect(error.description.hasPrefix("certificate file '\(broken)': certificate #1 cannot be decoded ("))
    }

    @Test func pemBlocksAreFoundAmongText() {
        let text = "Bag Attributes\r\n-----BEGIN CERTIFICATE-----\r\nAAAA\r\n-----END CERTIFICATE-----\r\njunk\n  -----BEGIN EC PRIVATE KEY-----\nBBBB\n-----END EC PRIVATE KEY-----\n-----BEGIN X-----\nunterminated\n"
        let blocks = PEMFile.blocks(in: Array(text.utf8))
        #expect(blocks.map(\.label) == ["CERTIFICATE", "EC PRIVATE KEY"])
        #expect(String(decoding: blocks[0].bytes, as: UTF8.self) == "-----BEGIN CERTIFICATE-----\r\nAAAA\r\n-----END CERTIFICATE-----\r\n")
    }
}

@Suite struct ReloadTests {
    @Test func reloadSwapsTheContextAndKeepsOldSessions() throws {
        let dir = try TemporaryDirectory()
        let old = try TestPKI(names: ["old.example"])
        let files = try old.write(to: dir)
        let context = try TLSServerContext.load(certificateFile: files.certificate, keyFile: files.key)

        var options = OpenSSLClient.Options()
        options.host = "old.example"
        let oldClient = OpenSSLClient(options)
        let oldSession = context.makeSession()
        handshake(oldClient, oldSession)
        _ = oldClient.read()
        let ticket = try #require(oldClient.session())
        defer { SSL_SESSION_free(ticket) }

        // Renewal: new files at the same paths, then reload (what SIGHUP does).
        let new = try TestPKI(names: ["new.example"])
        _ = try new.write(to: dir)
        try context.reload()
        #expect(context.certificateInfo.dnsNames == ["new.example"])

        let newClient = OpenSSLClient()
        handshake(newClient, context.makeSession())
        #expect(newClient.peerCertificateInfo?.dnsNames == ["new.example"])

        // The session made before the reload still works both ways.
        oldClient.give(oldSession.encrypt(Array("still here".utf8)))
        #expect(oldClient.read() == Array("still here".utf8))
        oldClient.send(Array("me too".utf8))
        #expect(oldSession.receive(oldClient.take()).plaintext == Array("me too".utf8))

        // Ticket keys survive the reload, so phones resume instead of a full handshake.
        options.session = ticket
        let resuming = OpenSSLClient(options)
        let resumed = context.makeSession()
        handshake(resuming, resumed)
        #expect(resumed.isResumed)
    }

    @Test func failedReloadKeepsTheCurrentPair() throws {
        let dir = try TemporaryDirectory()
        let files = try TestPKI(names: ["keep.example"]).write(to: dir)
        let context = try TLSServerContext.load(certificateFile: files.certificate, keyFile: files.key)
        try "not a key\n".write(toFile: files.key, atomically: true, encoding: .utf8)
        #expect(throws: TLSConfigurationError.self) { try context.reload() }
        #expect(context.certificateInfo.dnsNames == ["keep.example"])
        let session = context.makeSession()
        handshake(OpenSSLClient(), session)
        #expect(session.isHandshakeComplete)
    }
}

@Suite struct CertificateWarningTests {
    let day: TimeInterval = 86_400

    @Test func validityWarnings() throws {
        let now = Date()
        let info = try TestPKI(names: ["studio.local"], now: now).certificate.info
        #expect(info.warnings(forHostNames: ["studio.local"], now: now).isEmpty)
        let expired = info.warnings(forHostNames: [], now: now.addingTimeInterval(400 * day))
        #expect(expired.count == 1)
        #expect(expired[0].hasPrefix("the certificate expired on "))
        let early = info.warnings(forHostNames: [], now: now.addingTimeInterval(-2 * day))
        #expect(early.count == 1)
        #expect(early[0].hasPrefix("the certificate is not valid before "))
        let soon = info.warnings(forHostNames: [], now: now.addingTimeInterval(390 * day))
        #expect(soon.count == 1)
        #expect(soon[0].hasPrefix("the certificate expires in 6 days"))
    }

    @Test func hostNameCoverage() {
        let info = CertificateInfo(subject: "CN=x", issuer: "CN=x", dnsNames: ["studio.local", "*.class.example"],
                                   ipAddresses: ["192.168.1.20", "::1"], notBefore: .distantPast, notAfter: .distantFuture)
        for covered in ["studio.local", "STUDIO.local.", "a.class.example", "192.168.1.20", "[::1]", "0:0:0:0:0:0:0:1"] {
            #expect(info.covers(covered), "\(covered)")
        }
        for uncovered in ["class.example", "a.b.class.example", "192.168.1.21", "other.local", "studio"] {
            #expect(!info.covers(uncovered), "\(uncovered)")
        }
        let warnings = info.warnings(forHostNames: ["studio.local", "192.168.1.21"], now: Date())
        #expect(warnings == ["'192.168.1.21' is not covered by the certificate (it covers: studio.local, *.class.example, 192.168.1.20, ::1): phones opening https://192.168.1.21 will see a certificate warning"])
    }
}
