// The local CA behind `classctl cert`: what its certificates contain, that they verify, and
// the files it writes.
import COpenSSL
import Foundation
import Testing
@testable import TLS

@Suite struct CertificateAuthorityTests {
    /// X509_verify_cert of `leaf` against `authority`, optionally checking a host name.
    private func verify(_ leaf: TLSCertificate, against authority: TLSCertificate, host: String? = nil) -> Int32 {
        let store = X509_STORE_new()!
        defer { X509_STORE_free(store) }
        _ = X509_STORE_add_cert(store, authority.x509)
        let context = X509_STORE_CTX_new()!
        defer { X509_STORE_CTX_free(context) }
        _ = X509_STORE_CTX_init(context, store, leaf.x509, nil)
        if let host { _ = X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(context), host, 0) }
        _ = X509_verify_cert(context)
        return X509_STORE_CTX_get_error(context)
    }

    @Test func serverCertificateContents() throws {
        let now = Date()
        let authority = try LocalCertificateAuthority.create(commonName: "Test CA", now: now)
        let names = try ServerNames(["studio", "studio.local", "localhost", "127.0.0.1", "::1", "192.168.1.20", "[fe80::1]"])
        let (leaf, key) = try authority.issueServerCertificate(for: names, validityDays: 397, now: now)
        let info = leaf.info
        #expect(info.dnsNames == ["studio", "studio.local", "localhost"])
        #expect(info.ipAddresses == ["127.0.0.1", "::1", "192.168.1.20", "fe80::1"])
        #expect(info.subject == "CN=studio")
        #expect(info.issuer == "CN=Test CA,O=classctl")
        let lifetime = info.notAfter.timeIntervalSince(info.notBefore)
        #expect(abs(lifetime - (397 * 86_400 + 3600)) < 2)
        #expect(leaf.matches(key))
        #expect(!leaf.matches(authority.key))

        #expect(X509_get_extended_key_usage(leaf.x509) & UInt32(XKU_SSL_SERVER) != 0)
        #expect(X509_get_key_usage(leaf.x509) & UInt32(KU_DIGITAL_SIGNATURE) != 0)
        #expect(X509_check_ca(leaf.x509) == 0)
        #expect(X509_check_ca(authority.certificate.x509) != 0)
        #expect(EVP_PKEY_get_base_id(key.pkey) == EVP_PKEY_EC)
        #expect(EVP_PKEY_get_bits(key.pkey) == 256)

        #expect(verify(leaf, against: authority.certificate) == X509_V_OK)
        #expect(verify(leaf, against: authority.certificate, host: "studio.local") == X509_V_OK)
        #expect(verify(leaf, against: authority.certificate, host: "elsewhere.local") == X509_V_ERR_HOSTNAME_MISMATCH)
        let stranger = try LocalCertificateAuthority.create(commonName: "Test CA")
        #expect(verify(leaf, against: stranger.certificate) != X509_V_OK)
    }

    @Test func rsaCertificates() throws {
        let authority = try LocalCertificateAuthority.create(commonName: "RSA CA", algorithm: .rsa(bits: 2048))
        let (leaf, key) = try authority.issueServerCertificate(for: ServerNames(["localhost"]), algorithm: .rsa(bits: 2048))
        #expect(EVP_PKEY_get_base_id(key.pkey) == EVP_PKEY_RSA)
        #expect(verify(leaf, against: authority.certificate, host: "localhost") == X509_V_OK)
        #expect(throws: CertificateError.self) { try TLSPrivateKey.generate(.rsa(bits: 1024)) }
    }

    @Test func refusesBadRequests() throws {
        let authority = try LocalCertificateAuthority.create(commonName: "Test CA")
        #expect(throws: CertificateError("a server certificate may be valid for 1 to 397 days (browsers refuse longer), not 398")) {
            try authority.issueServerCertificate(for: ServerNames(["localhost"]), validityDays: 398)
        }
        #expect(throws: CertificateError("a server certificate needs at least one host name or IP address")) {
            try authority.issueServerCertificate(for: ServerNames())
        }
        for bad in ["a,DNS:evil.example", "under_score", "-dash.local", "a..b", "", "space host", "x:y"] {
            #expect(throws: CertificateError.self, "\(bad)") { try ServerNames([bad]) }
        }
        #expect(try ServerNames(["*.class.example", "Studio.Local", "studio.local."]).dnsNames == ["*.class.example", "studio.local"])
        #expect(throws: CertificateError("an empty passphrase cannot protect a key")) {
            try authority.key.pem(passphrase: "")
        }
    }

    @Test func thisMachineNames() {
        let names = ServerNames.thisMachine()
        #expect(names.dnsNames.contains("localhost"))
        #expect(names.ipAddresses.starts(with: ["127.0.0.1", "::1"]))
        if let host = ServerNames.hostName(), ServerNames.isValidHostName(host) {
            #expect(names.dnsNames.contains(host.lowercased()))
        }
    }

    @Test func directoryIsCreatedOnceAndReused() throws {
        let dir = try TemporaryDirectory()
        let files = LocalCertificateAuthority.Files(directory: dir.path + "/tls/")
        let first = try LocalCertificateAuthority.openOrCreate(files)
        #expect(first.created)
        #expect(first.warnings.isEmpty)
        let leaf = try first.authority.writeServerCertificate(files, names: ServerNames(["localhost", "10.0.0.5"]))

        func mode(_ path: String) -> mode_t {
            var st = stat()
            return stat(path, &st) == 0 ? st.st_mode & 0o777 : 0
        }
        #expect(mode(files.directory) == 0o700)
        #expect(mode(files.authorityKey) == 0o600)
        #expect(mode(files.serverKey) == 0o600)
        #expect(mode(files.authorityCertificate) == 0o644)

        // server.pem is the full chain and loads as a TLS context with its key.
        let chain = try String(contentsOfFile: files.serverCertificate, encoding: .utf8)
        #expect(chain == leaf.pem + first.authority.certificate.pem)
        let context = try TLSServerContext.load(certificateFile: files.serverCertificate, keyFile: files.serverKey)
        #expect(context.certificateInfo.ipAddresses == ["10.0.0.5"])
        var options = OpenSSLClient.Options()
        options.trusting = first.authority.certificate
        let client = OpenSSLClient(options)
        handshake(client, context.makeSession())
        #expect(client.verifyResult == Int(X509_V_OK))

        // A second run keeps the CA phones already trust.
        let second = try LocalCertificateAuthority.openOrCreate(files)
        #expect(!second.created)
        #expect(second.authority.certificate.pem == first.authority.certificate.pem)
        chmod(files.authorityKey, 0o644)
        #expect(try LocalCertificateAuthority.openOrCreate(files).warnings.count == 1)

        // Half a CA is an error, not a silent new CA.
        try FileManager.default.removeItem(atPath: files.authorityKey)
        #expect(throws: CertificateError.self) { try LocalCertificateAuthority.openOrCreate(files) }
    }
}

@Suite struct TokenHashTests {
    @Test func verifiesTheTokenAndNothingElse() {
        let h = TokenHash.make("462de886be8a20273e275d9c7c942cb4", iterations: 1_000)
        #expect(h.hasPrefix("pbkdf2-sha256$1000$"))
        #expect(!h.contains("462de886be8a20273e275d9c7c942cb4"))
        #expect(TokenHash.verify("462de886be8a20273e275d9c7c942cb4", against: h))
        #expect(!TokenHash.verify("462de886be8a20273e275d9c7c942cb5", against: h))
        #expect(!TokenHash.verify("", against: h))
        #expect(TokenHash.make("x", iterations: 1_000) != TokenHash.make("x", iterations: 1_000), "salted")
        for bad in ["", "pbkdf2-sha256$0$AA$AA", "md5$1$AA$AA", "pbkdf2-sha256$1000$!!$AA", "a$b$c"] {
            #expect(!TokenHash.verify("x", against: bad))
        }
    }
}
