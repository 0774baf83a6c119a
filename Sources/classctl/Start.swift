import ArgumentParser
import Dispatch
import Foundation
import Logging
import ClassPlan
import ClassEngine
import LiveClass
import NetServer
import QRCode
import TLS
import HTTPCodec
import WebSocketCodec

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open a class: serve the participant page and the instructor console.",
        discussion: "With no PLAN, runs the built-in first backward-walking class. PLAN may be a plan file (YAML/JSON) or a recording (.jsonl) to replay.")

    @Argument(help: "Class plan file, or a recording (.jsonl) to replay.") var plan: String?
    @Option(help: "Configuration file (see config/classctl.yaml).") var config: String?
    @Option(help: "Address to listen on (default 0.0.0.0: phones on the LAN can join).") var host: String?
    @Option(help: "Port (default 8080; 0 picks a free one).") var port: Int?
    @Option(name: .customLong("record-dir"), help: "Where recordings are written (default ./recordings).") var recordDir: String?
    @Option(help: "Join code (default: random).") var code: String?
    @Option(help: "Instructor token (default: random; or CLASSCTL_TOKEN).") var token: String?
    @Option(name: .customLong("allowed-origin"), help: "Extra origin allowed to open WebSockets (repeatable).") var allowedOrigins: [String] = []
    @Option(name: .customLong("lead-ms"), help: "How far ahead step changes are scheduled so phones switch together.") var leadMs: Int?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel: String?
    @Option(name: .customLong("log-format"), help: "text or json.") var logFormat: String?
    @Option(name: .customLong("web-root"), help: "Folder with the pages (default: the web-static folder shipped with classctl).") var webRoot: String?
    @Option(name: .customLong("public-url"), help: "Base URL phones use, when behind a proxy (e.g. https://class.example.org).") var publicURL: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: serve https and wss (see docs/tls.md, `classctl cert`).") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert (passphrase, if any, from CLASSCTL_TLS_KEY_PASSPHRASE).") var tlsKey: String?
    @Option(name: .customLong("http-redirect-port"), help: "Also listen for plain HTTP on this port and redirect it to https.") var httpRedirectPort: Int?
    @Option(name: .customLong("trusted-proxy"), help: "A reverse proxy (address or range, repeatable) whose Forwarded / X-Forwarded-For headers give the client's address.") var trustedProxies: [String] = []
    @Option(help: "Replay speed factor for recordings.") var speed: Double = 1

    func resolvedSettings(environment: [String: String]) throws -> Settings {
        var s = Settings()
        if let path = config ?? environment["CLASSCTL_CONFIG"] { try s.apply(configFile: path) }
        try s.apply(environment: environment)
        if let host { s.host = host }
        if let port { s.port = port }
        if let recordDir { s.recordDir = recordDir }
        if let code { s.code = code }
        if let token { s.token = token }
        if !allowedOrigins.isEmpty { s.allowedOrigins = allowedOrigins }
        if let leadMs { s.leadMs = leadMs }
        if let logLevel { s.logLevel = logLevel }
        if let logFormat { s.logFormat = logFormat }
        if let webRoot { s.webRoot = webRoot }
        if let publicURL { s.publicURL = publicURL }
        if let tlsCert { s.tlsCert = tlsCert }
        if let tlsKey { s.tlsKey = tlsKey }
        if let httpRedirectPort { s.httpRedirectPort = httpRedirectPort }
        if !trustedProxies.isEmpty { s.trustedProxies = trustedProxies }
        try s.validate()
        return s
    }

    func run() throws {
        let settings: Settings
        do { settings = try resolvedSettings(environment: ProcessInfo.processInfo.environment) } catch {
            fail("\(error)", code: 2)
        }
        guard (0.1...100).contains(speed) else { fail("--speed must be between 0.1 and 100", code: 2) }
        LogSetup.bootstrap(level: Logger.Level(rawValue: settings.logLevel) ?? .info, json: settings.logFormat == "json")
        let logger = Logger(label: "classctl")

        // 1. The class: a plan file, a recording to replay, or the built-in default.
        var replay: Recording?
        let classPlan: ClassPlan
        if let plan {
            if plan.hasSuffix(".jsonl") {
                do { replay = try RecordingReader.read(URL(fileURLWithPath: plan)) } catch {
                    fail("cannot replay \(plan): \(error)", code: 1)
                }
                classPlan = replay!.plan.scaled(by: speed)
            } else {
                let (p, diagnostics) = PlanLoader.load(contentsOf: URL(fileURLWithPath: plan))
                for d in diagnostics { FileHandle.standardError.write(Data((d.formatted + "\n").utf8)) }
                guard let p else { fail("the plan \(plan) is not valid; nothing was started", code: 1) }
                classPlan = p
            }
        } else {
            classPlan = BuiltinPlans.default
        }

        // 2. The record directory must be writable before anyone joins.
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
        let tlsContext: TLSServerContext?
        if let cert = settings.tlsCert, let key = settings.tlsKey {
            let passphrase = ProcessInfo.processInfo.environment["CLASSCTL_TLS_KEY_PASSPHRASE"]
            do {
                tlsContext = try TLSServerContext.load(certificateFile: cert, keyFile: key, passphrase: passphrase)
            } catch {
                fail("\(error)", code: 1)
            }
        } else {
            tlsContext = nil
        }

        let code = settings.code ?? Secrets.joinCode()
        let token = settings.token ?? Secrets.token()

        // 3. The server.
        let classes = ClassServer(qrSVG: { link in try? QRCode(link).svg() })
        var config = ServerConfiguration()
        config.host = settings.host
        config.port = settings.port
        config.webRoot = web
        config.logger = Logger(label: "classctl.net")
        config.handshake = WebSocketHandshakeConfig(allowedOrigins: settings.allowedOrigins, enableDeflate: true)
        config.tls = tlsContext
        config.trustedProxies = settings.trustedProxies.compactMap(IPRange.init)
        classes.install(into: &config)
        let server = Server(configuration: config)

        let session: ClassSession
        do {
            session = try ClassSession(code: code, plan: classPlan, instructorToken: token, server: server,
                                       leadMs: Int64(settings.leadMs), recordDirectory: recordURL, logger: logger)
        } catch {
            fail("cannot start the recording in \(recordURL.path): \(error)", code: 1)
        }
        classes.add(session)

        do { try server.start() } catch let e as SocketError where e.errno == EADDRINUSE {
            fail("port \(settings.port) is already in use on \(settings.host); choose another with --port (0 picks a free one)", code: 1)
        } catch {
            fail("cannot listen on \(settings.host):\(settings.port): \(error)", code: 1)
        }

        let redirect = settings.httpRedirectPort.map { HTTPSRedirect.start(host: settings.host, port: $0, httpsPort: server.port) }

        let links = JoinLinks(host: settings.host, port: server.port, publicURL: settings.publicURL, secure: tlsContext != nil)
        if let ctx = tlsContext {
            for w in ctx.warnings(forHostNames: links.hosts, now: Date()) { logger.warning("TLS certificate: \(w)") }
        }
        classes.setBaseURL(links.preferred)
        Banner.print(plan: classPlan, steps: session.steps, code: code, token: token, links: links,
                     recording: session.recordingPath, replaying: replay != nil, boundHost: settings.host, port: server.port,
                     secure: tlsContext != nil)

        if let replay {
            Replayer(session: session, recording: replay, speed: speed, logger: logger).start()
        }

        Signals.handle { signal in
            if signal == SIGHUP {
                guard let ctx = tlsContext else {
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
            logger.info("signal \(signal): ending the class")
            session.finish(reason: "server stopping")
            // Give phones a moment to receive "finished" before the going-away close.
            Thread.sleep(forTimeInterval: Double(settings.leadMs) / 1000 + 0.2)
            server.shutdown(timeout: 2)
            redirect?.shutdown(timeout: 1)
            return true
        }
    }
}

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("classctl: \(message)\n".utf8))
    Foundation.exit(code)
}

enum Secrets {
    /// 128 bits from the system CSPRNG, as 32 hex characters.
    static func token() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }

    /// Short, easy to type, no look-alike characters.
    static func joinCode() -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<5).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
    }
}

enum WebRoot {
    /// The web-static folder: next to the binary's package checkout, in the working
    /// directory, or where the container image puts it.
    static func locate() -> String? {
        var candidates: [String] = []
        if let exe = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            var dir = exe.deletingLastPathComponent()
            for _ in 0..<5 {
                candidates.append(dir.appendingPathComponent("web-static").path)
                dir = dir.deletingLastPathComponent()
            }
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/web-static")
        candidates.append("/usr/share/classctl/web-static")
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/participant.html") }
    }
}

enum Signals {
    /// Blocks the main thread; `handler` runs on a signal queue and returns true to exit 0.
    static func handle(_ handler: @escaping @Sendable (Int32) -> Bool) -> Never {
        let queue = DispatchQueue(label: "classctl.signals")
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            s.setEventHandler { if handler(sig) { Foundation.exit(0) } }
            s.resume()
            sources.append(s)
        }
        withExtendedLifetime(sources) { dispatchMain() }
    }
}

/// A plain-HTTP listener that sends every request to the https port.
enum HTTPSRedirect {
    static func start(host: String, port: Int, httpsPort: Int) -> Server {
        var config = ServerConfiguration()
        config.host = host
        config.port = port
        config.loopCount = 1
        config.logger = Logger(label: "classctl.redirect")
        config.contentSecurityPolicy = ClassServer.contentSecurityPolicy
        config.responder = { request, _ in
            let hostHeader = request.headers["Host"] ?? "localhost"
            let bareHost = hostHeader.hasPrefix("[") ? String(hostHeader.prefix { $0 != "]" }) + "]" : String(hostHeader.split(separator: ":").first ?? "localhost")
            var h = HTTPHeaders()
            h.add("Location", "https://\(bareHost):\(httpsPort)\(request.target)")
            return .text(308, "this class is served over https", headers: h)
        }
        let server = Server(configuration: config)
        do { try server.start() } catch {
            fail("cannot listen for the http redirect on \(host):\(port): \(error)", code: 1)
        }
        return server
    }
}
