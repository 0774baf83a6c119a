// `classctl cert`: a local certificate authority and a server certificate, so phones on a LAN
// get HTTPS (and with it Screen Wake Lock and other secure-context features) without a
// public host name. The work is in the TLS module (LocalCertificateAuthority).
import ArgumentParser
import Foundation
import TLS

struct Cert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert",
        abstract: "Create a local certificate authority and a server certificate for HTTPS on a LAN.",
        discussion: """
            The CA (ca.pem, ca-key.pem) is created once and reused, so phones trust it only once. \
            The server certificate (server.pem with the chain, server-key.pem) is issued on every run \
            for this machine's host name, localhost, 127.0.0.1, ::1, its LAN IPv4 addresses and every \
            --name. All keys are ECDSA P-256; key files are written with mode 0600. See docs/tls.md.
            """)

    @Option(help: "Directory for ca.pem, ca-key.pem, server.pem and server-key.pem.")
    var dir = "tls"

    @Option(name: .customLong("name"), help: "Another host name or IP address phones will use (repeatable).")
    var names: [String] = []

    @Option(help: "Server certificate lifetime in days, 1 to \(LocalCertificateAuthority.maximumServerValidityDays) (browsers refuse longer).")
    var days = LocalCertificateAuthority.maximumServerValidityDays

    func validate() throws {
        guard (1...LocalCertificateAuthority.maximumServerValidityDays).contains(days) else {
            throw ValidationError("--days must be 1 to \(LocalCertificateAuthority.maximumServerValidityDays): browsers refuse server certificates valid for longer")
        }
        do {
            _ = try ServerNames(names)
        } catch {
            throw ValidationError("--name: \(error.description)")
        }
    }

    func run() throws {
        var serverNames = ServerNames.thisMachine()
        for name in names { try serverNames.add(name) }
        let files = LocalCertificateAuthority.Files(directory: dir)
        let (authority, created, warnings) = try LocalCertificateAuthority.openOrCreate(files)
        let server = try authority.writeServerCertificate(files, names: serverNames, validityDays: days)

        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        if created {
            print("Created a local certificate authority: \(files.authorityCertificate) (its key: \(files.authorityKey)).")
        } else {
            print("Using the local certificate authority in \(files.authorityCertificate); phones that already trust it need nothing new.")
        }
        for warning in warnings { print("Warning: \(warning)") }
        print("""
            Issued a server certificate, valid until \(day.string(from: server.info.notAfter)), for:
              \(serverNames.all.joined(separator: ", "))
              -> \(files.serverCertificate) (certificate and CA) and \(files.serverKey)

            Start the class over HTTPS:
              classctl start --tls-cert \(files.serverCertificate) --tls-key \(files.serverKey)

            Each participant's phone must trust the CA once. Send them \(files.authorityCertificate) (only that file), then:
              Android: Settings > Security (> Encryption & credentials) > Install a certificate > CA certificate, choose ca.pem.
              iPhone/iPad: open ca.pem and allow the download, install the profile in Settings > Profile Downloaded,
                then enable full trust for it in Settings > General > About > Certificate Trust Settings.

            Keep \(files.authorityKey) private: anyone who has it can impersonate any web site to the phones that trust
            this CA. Run `classctl cert` again to add a name or before the server certificate expires.
            """)
    }
}
