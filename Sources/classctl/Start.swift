import ArgumentParser
import Dispatch
import Foundation
import Logging
import ClassPlan
import ClassCluster
import ClassEngine
import LiveClass
import NetServer
import QRCode
import TLS
import HTTPCodec
import WebSocketCodec
import Synchronization

struct Start: ParsableCommand {
    /// Seconds after a first Ctrl-C / SIGTERM in which a second one ends the class for good.
    static let secondSignalGrace = 3
    static let configuration = CommandConfiguration(
        abstract: "Open a class: serve the participant page and the instructor console.",
        discussion: "With no PLAN, runs the built-in first backward-walking class. PLAN may be a plan file (YAML/JSON) or a recording (.jsonl) to replay.")

    @Argument(help: "Class plan file, or a recording (.jsonl) to replay.") var plan: String?
    @OptionGroup var server: ServerOptions
    @Option(help: "Join code (default: random).") var code: String?
    @Option(help: "Instructor token (default: random; or CLASSCTL_TOKEN).") var token: String?
    @Option(help: "Replay speed factor for recordings.") var speed: Double = 1
    @Flag(help: "Start a new class even if an unfinished one of this plan is in the record directory (it is otherwise resumed).") var fresh = false
    @Option(name: .customLong("server"), help: "Open the class on this studio server (`classctl serve`) instead of here; the studio key comes from CLASSCTL_STUDIO_KEY or the config's studio_key.") var studioURL: String?

    func resolvedSettings(environment: [String: String]) throws -> Settings {
        try server.resolvedSettings(environment: environment) { s in
            if let code { s.code = code }
            if let token { s.token = token }
        }
    }

    func run() throws {
        let settings: Settings
        do { settings = try resolvedSettings(environment: ProcessInfo.processInfo.environment) } catch {
            fail("\(error)", code: 2)
        }
        guard ReplayScript.speeds.contains(speed) else { fail("--speed must be between 0.1 and 100", code: 2) }
        LogSetup.bootstrap(level: Logger.Level(rawValue: settings.logLevel) ?? .info, json: settings.logFormat == "json")
        let logger = Logger(label: "classctl")
        if let studioURL {
            guard plan.map({ !$0.hasSuffix(".jsonl") && !$0.hasPrefix("redis://") }) ?? true else { fail("a replay runs here, not on a studio server", code: 2) }
            StudioClient.open(planPath: plan, server: studioURL, settings: settings)
        }

        // 1. The class: a plan file, a recording to replay, or the built-in default.
        var replay: ReplayScript?
        let classPlan: ClassPlan
        if let plan {
            if plan.hasSuffix(".jsonl") || plan.hasPrefix("redis://") {
                // A file, or a class of a cluster: redis://host:port/db#CODE.
                do {
                    let recording = plan.hasPrefix("redis://") ? try RedisRecording.read(url: plan) : try RecordingReader.read(URL(fileURLWithPath: plan))
                    replay = ReplayScript(recording: recording, speed: speed)
                } catch {
                    fail("cannot replay \(plan): \(error)", code: 1)
                }
                classPlan = replay!.plan
            } else {
                let (p, diagnostics) = PlanLoader.load(contentsOf: URL(fileURLWithPath: plan))
                for d in diagnostics { FileHandle.standardError.write(Data((d.formatted + "\n").utf8)) }
                guard let p else { fail("the plan \(plan) is not valid; nothing was started", code: 1) }
                classPlan = p
            }
        } else {
            classPlan = BuiltinPlans.default
        }

        // 2. Record directory, pages and certificate checked before anything listens.
        let hosting = Hosting.prepare(settings, logger: logger)
        let recordURL = hosting.recordURL

        // An unfinished class of this plan in the record directory (a crash, a restart, a
        // deploy) is picked up again: same code, same instructor link, same timing.
        var resume: ResumeCandidate?
        if replay == nil && !fresh {
            do {
                let found = try Resumption.find(in: recordURL, plan: classPlan, code: settings.code, now: wallClockMillis())
                for note in found.notes { logger.notice("\(note); --fresh starts a new class, classctl export reads it") }
                resume = found.candidate
            } catch {
                fail("\(error)", code: 1)
            }
        }
        for w in resume?.recording.warnings ?? [] { logger.warning("resuming despite: \(w) (cut off before the class goes on)") }

        let code = resume?.recording.classCode ?? settings.code ?? Secrets.joinCode()
        let token: String?
        var tokenKnown = true
        if let resume {
            // The token that made this class's link: the private file beside the recording, or
            // the one given now if it matches the recorded hash; else only the hash checks it.
            let candidates = [settings.token, Resumption.loadToken(for: resume.url)].compactMap { $0 }
            if let hash = resume.recording.instructorTokenHash {
                token = candidates.first { TokenHash.verify($0, against: hash) }
                if settings.token != nil && token != settings.token {
                    logger.warning("the instructor token given does not match this class's; its own link keeps working")
                }
            } else {
                token = candidates.first   // format 1/2 recordings hold no hash
            }
            tokenKnown = token != nil
        } else {
            token = settings.token ?? Secrets.token()
        }

        // 3. The server.
        let classes = hosting.classes
        let server = hosting.server

        let session: ClassSession
        do {
            let recording: ClassRecording = resume.map { .resume($0.recording, url: $0.url) } ?? .new(directory: recordURL)
            session = try ClassSession(code: code, plan: classPlan, steps: replay?.steps, instructorToken: token, server: server,
                                       leadMs: Int64(settings.leadMs), recording: recording, replaySpeed: replay?.speed, logger: logger)
        } catch {
            fail("cannot \(resume == nil ? "start" : "continue") the recording in \(recordURL.path): \(error)", code: 1)
        }
        classes.add(session)
        let recordingURL = session.recordingPath.map { URL(fileURLWithPath: $0) }
        if resume == nil, settings.token == nil, let token, let recordingURL, replay == nil {
            Resumption.saveToken(token, for: recordingURL)
        }
        if let recordingURL {
            session.whenFinished { Resumption.removeToken(for: recordingURL) }
        }

        let (links, redirect) = hosting.listen()

        if let resume {
            let snap = session.snapshot
            let started = snap.classStartedAt ?? resume.recording.startedAt
            let time = DateFormatter()
            time.dateFormat = "HH:mm"
            let at = snap.stepIndex.map { "at step \($0 + 1) of \(session.steps.count)" } ?? "before its start"
            FileHandle.standardOutput.write(Data("resuming class \(code) \(at), started \(time.string(from: Date(timeIntervalSince1970: Double(started) / 1000))) (\(resume.url.lastPathComponent); --fresh starts a new class)\n".utf8))
        }
        Banner.print(plan: classPlan, steps: session.steps, code: code, token: tokenKnown ? token : nil, links: links,
                     recording: session.recordingPath, replaying: replay != nil, boundHost: settings.host, port: server.port,
                     secure: hosting.tls != nil)

        if let replay {
            Replayer(session: session, script: replay, logger: logger).start()
        }

        // The first Ctrl-C or SIGTERM (docker stop, a systemd restart for a deploy) suspends the
        // class: phones keep following the plan and the next start resumes it. A second one
        // within the grace ends the class for good, as the console's End does. A replay just ends.
        let isReplay = replay != nil
        hosting.handleSignals(links: links, redirect: redirect, graceSeconds: isReplay ? 0 : Start.secondSignalGrace,
            suspend: { signal in session.suspend(reason: "server stopping (signal \(signal))") },
            end: {
                session.finish(reason: "ended at the server")
                if let recordingURL { Resumption.removeToken(for: recordingURL) }
            })
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
