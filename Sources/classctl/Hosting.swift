// What `classctl start` and `classctl serve` share: the checks before listening (record
// directory, pages, certificate), the server with the class routes, listening, the links
// phones use, and the signals (SIGHUP reloads the certificate; SIGTERM / Ctrl-C suspend, a
// second one ends).
import Dispatch
import Foundation
import Logging
import HTTPCodec
import LiveClass
import NetServer
import QRCode
import Synchronization
import TLS
import WebSocketCodec

struct Hosting {
    let settings: Settings
    let logger: Logger
    let recordURL: URL
    let tls: TLSServerContext?
    let classes: ClassServer
    let server: Server

    /// Everything that can be wrong with the settings is reported here, before anything listens.
    static func prepare(_ settings: Settings, logger: Logger) -> Hosting {
        // The record directory must be writable before anyone joins.
        let recordURL = URL(fileURLWithPath: settings.recordDir)
        do {
            try FileManager.default.createDirectory(at: recordURL, withIntermediateDirectories: true)
            let probe = recordURL.appendingPathComponent(".classctl-write-test-\(getpid())")
            guard FileManager.default.createFile(atPath: probe.path, contents: Data()) else { throw CocoaError(.fileWriteNoPermission) }
            try? FileManager.default.removeItem(at: probe)
        } catch {
            fail("the record directory \(recordURL.path) is not writable; choose another with --record-dir", code: 1)
        }
        guard let web = settings.webRoot ?? WebRoot.locate() else {
            fail("cannot find the web pages (web-static); pass --web-root", code: 1)
        }
        // TLS: every certificate problem is reported before anything listens.
        var tls: TLSServerContext?
        if let cert = settings.tlsCert, let key = settings.tlsKey {
            let passphrase = ProcessInfo.processInfo.environment["CLASSCTL_TLS_KEY_PASSPHRASE"]
            do {
                tls = try TLSServerContext.load(certificateFile: cert, keyFile: key, passphrase: passphrase)
            } catch {
                fail("\(error)", code: 1)
            }
        }
        let classes = ClassServer(qrSVG: { link in try? QRCode(link).svg() })
        var config = ServerConfiguration()
        config.host = settings.host
        config.port = settings.port
        config.webRoot = web
        config.logger = Logger(label: "classctl.net")
        config.handshake = WebSocketHandshakeConfig(allowedOrigins: settings.allowedOrigins, enableDeflate: true)
        config.tls = tls
        config.trustedProxies = settings.trustedProxies.compactMap(IPRange.init)
        classes.install(into: &config)
        return Hosting(settings: settings, logger: logger, recordURL: recordURL, tls: tls, classes: classes,
                       server: Server(configuration: config))
    }

    /// Listens (or exits with a clear reason), starts the https redirect if asked, and works out
    /// the links phones use.
    func listen() -> (links: JoinLinks, redirect: Server?) {
        do { try server.start() } catch let e as SocketError where e.errno == EADDRINUSE {
            fail("port \(settings.port) is already in use on \(settings.host); choose another with --port (0 picks a free one)", code: 1)
        } catch {
            fail("cannot listen on \(settings.host):\(settings.port): \(error)", code: 1)
        }
        let redirect = settings.httpRedirectPort.map { HTTPSRedirect.start(host: settings.host, port: $0, httpsPort: server.port) }
        let links = JoinLinks(host: settings.host, port: server.port, publicURL: settings.publicURL, secure: tls != nil)
        if let tls {
            for w in tls.warnings(forHostNames: links.hosts, now: Date()) { logger.warning("TLS certificate: \(w)") }
        }
        classes.setBaseURL(links.preferred)
        return (links, redirect)
    }

    /// Blocks for good. SIGHUP reloads the certificate. The first SIGTERM / SIGINT runs
    /// `suspend` after `graceSeconds` (0: at once `end` instead) and exits with phones told the
    /// server restarts (1012); a second one within the grace runs `end` and exits.
    func handleSignals(links: JoinLinks, redirect: Server?, graceSeconds: Int,
                       suspend: @escaping @Sendable (Int32) -> Void, end: @escaping @Sendable () -> Void) -> Never {
        let stopping = Atomic<Bool>(false)
        let ended = Atomic<Bool>(false)
        let (tls, logger, server, leadMs) = (self.tls, self.logger, self.server, settings.leadMs)
        Signals.handle { signal in
            if signal == SIGHUP {
                guard let ctx = tls else {
                    logger.notice("SIGHUP: no TLS certificate is configured; nothing to reload")
                    return false
                }
                do {
                    try ctx.reload()
                    logger.notice("SIGHUP: TLS certificate reloaded; new connections use it")
                    for w in ctx.warnings(forHostNames: links.hosts, now: Date()) { logger.warning("TLS certificate: \(w)") }
                } catch {
                    logger.error("SIGHUP: the new TLS certificate was rejected, the old one stays in service: \(error)")
                }
                return false
            }
            if graceSeconds == 0 || stopping.exchange(true, ordering: .relaxed) {
                guard !ended.exchange(true, ordering: .relaxed) else { return false }
                logger.notice(graceSeconds == 0 ? "signal \(signal): ending" : "signal \(signal) again: ending for good")
                end()
                // Give phones a moment to receive "finished" before the going-away close.
                Thread.sleep(forTimeInterval: Double(leadMs) / 1000 + 0.2)
                server.shutdown(timeout: 2)
                redirect?.shutdown(timeout: 1)
                return true
            }
            logger.notice("signal \(signal): stopping; classes stay open and resume when classctl starts again (signal again within \(graceSeconds) s to end them for good)")
            DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(graceSeconds)) {
                guard !ended.exchange(true, ordering: .relaxed) else { return }
                suspend(signal)
                server.shutdown(timeout: 2, closeCode: WebSocketCloseCode.serviceRestart, reason: "server restarting")
                redirect?.shutdown(timeout: 1)
                Foundation.exit(0)
            }
            return false
        }
    }
}
