// `classctl serve`: a studio server with no class of its own. Instructors open classes on it
// (`classctl start PLAN --server URL`, or POST /api/classes with the studio key); unfinished
// classes in its record directory are resumed when it starts.
import ArgumentParser
import Foundation
import Logging
import ClassCluster
import ClassEngine
import ClassPlan
import LiveClass
import NetServer
import TLS

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a studio server: many classes side by side, opened by instructors with the studio key.",
        discussion: "Needs a studio key (CLASSCTL_STUDIO_KEY or studio_key in the config, at least 16 characters). Open a class on it with `classctl start PLAN --server URL`.")

    @OptionGroup var server: ServerOptions
    @Option(name: .customLong("max-classes"), help: "Classes open at once (default 50).") var maxClasses: Int?
    @Option(name: .customLong("max-phones"), help: "Phones over all classes (default 19000).") var maxPhones: Int?
    @Option(name: .customLong("finished-grace"), help: "Seconds a finished class stays before it leaves the server (default 600).") var finishedGrace: Int = 600
    @Option(name: .customLong("redis"), help: "Share classes with other `serve` nodes through this Redis: redis://[:password@]host:port/db (or CLASSCTL_REDIS, or redis in the config; see docs/cluster.md).") var redis: String?
    @Option(name: .customLong("lease-ms"), help: "Cluster: a class's lease time; a node that dies is replaced after about this plus two ticks (default 3000).") var leaseMs: Int = 3_000

    func run() throws {
        let settings: Settings
        do {
            settings = try server.resolvedSettings(environment: ProcessInfo.processInfo.environment) { s in
                if let maxClasses { s.maxClasses = maxClasses }
                if let maxPhones { s.maxPhones = maxPhones }
                if let redis { s.redis = redis }
            }
        } catch {
            fail("\(error)", code: 2)
        }
        guard let key = settings.studioKey else {
            fail("a studio server needs a studio key: set CLASSCTL_STUDIO_KEY (at least 16 characters) or studio_key in the config", code: 2)
        }
        LogSetup.bootstrap(level: Logger.Level(rawValue: settings.logLevel) ?? .info, json: settings.logFormat == "json")
        let logger = Logger(label: "classctl")
        let hosting = Hosting.prepare(settings, logger: logger)
        var limits = StudioLimits()
        limits.maxClasses = settings.maxClasses
        limits.maxPhones = settings.maxPhones
        guard finishedGrace >= 0 else { fail("--finished-grace must be 0 or more seconds", code: 2) }
        limits.finishedGraceMs = Int64(finishedGrace) * 1000
        let studio = Studio(classes: hosting.classes, server: hosting.server, studioKey: key,
                            recordDirectory: hosting.recordURL, limits: limits, leadMs: Int64(settings.leadMs), logger: logger,
                            onOpen: { session, token in
                                guard let path = session.recordingPath else { return }
                                let url = URL(fileURLWithPath: path)
                                Resumption.saveToken(token, for: url)
                                session.whenFinished { Resumption.removeToken(for: url) }
                            })
        hosting.classes.attach(studio)

        if let redisURL = settings.redis {
            serveCluster(redisURL: redisURL, hosting: hosting, settings: settings, limits: limits, key: key, logger: logger)
        }

        // Every unfinished class in the record directory goes on (a crash, a deploy).
        var resumed: [ClassSession] = []
        for candidate in Resumption.unfinished(in: hosting.recordURL, now: wallClockMillis(), logger: logger) {
            let rec = candidate.recording
            let token = Resumption.loadToken(for: candidate.url).flatMap { t in
                rec.instructorTokenHash.map { TokenHash.verify(t, against: $0) } ?? true ? t : nil
            }
            do {
                let session = try ClassSession(code: rec.classCode, plan: rec.plan, instructorToken: token, server: hosting.server,
                                               leadMs: Int64(settings.leadMs), recording: .resume(rec, url: candidate.url), logger: logger)
                studio.adopt(session)
                session.whenFinished { Resumption.removeToken(for: candidate.url) }
                resumed.append(session)
            } catch {
                logger.error("cannot resume class \(rec.classCode) from \(candidate.url.path): \(error)")
            }
        }

        let (links, redirect) = hosting.listen()
        var lines = ["  recordings:  \(hosting.recordURL.path)"]
        for s in resumed { lines.append("  resumed:     class \(s.code) (\(s.plan.title))") }
        printBanner(what: "studio server", hosting: hosting, settings: settings, limits: limits, links: links, extra: lines)

        let classes = hosting.classes
        hosting.handleSignals(links: links, redirect: redirect, graceSeconds: Start.secondSignalGrace,
            suspend: { signal in for s in classes.all { s.suspend(reason: "server stopping (signal \(signal))") } },
            end: { for s in classes.all { s.finish(reason: "ended at the server") } })
    }
}

extension Serve {
    /// `serve --redis`: classes live in Redis and any node serves any of them (docs/cluster.md).
    /// Nothing is resumed from the record directory: the classes are in Redis.
    func serveCluster(redisURL: String, hosting: Hosting, settings: Settings, limits: StudioLimits, key: String, logger: Logger) -> Never {
        guard (500...60_000).contains(leaseMs) else { fail("--lease-ms must be between 500 and 60000", code: 2) }
        var options = ClusterOptions()
        options.leaseTTLMs = leaseMs
        options.tickMs = max(100, leaseMs / 3)
        options.finishedGraceMs = limits.finishedGraceMs
        // The end-to-end tests hold a class queue or a shutdown up with these (test_cluster.py); not settings.
        let env = ProcessInfo.processInfo.environment
        if let ms = env["CLASSCTL_TEST_JOIN_STALL_MS"].flatMap(Int.init) { options.testJoinStallMs = ms }
        if let ms = env["CLASSCTL_TEST_SHUTDOWN_STALL_MS"].flatMap(Int.init) { options.testShutdownStallMs = ms }
        if let ms = env["CLASSCTL_TEST_APPEND_STALL_MS"].flatMap(Int.init) { options.testAppendStallMs = ms }
        let cluster: ClusterNode
        do {
            cluster = try ClusterNode(url: redisURL, options: options, server: hosting.server, classes: hosting.classes,
                                      leadMs: Int64(settings.leadMs), logger: logger)
        } catch {
            fail("--redis: \(error)", code: 2)
        }
        let studio = Studio(classes: hosting.classes, server: hosting.server, studioKey: key, recordDirectory: nil,
                            limits: limits, leadMs: Int64(settings.leadMs), logger: logger, opener: cluster)
        hosting.classes.attach(studio)
        do { try cluster.start() } catch { fail("\(error)", code: 1) }

        let (links, redirect) = hosting.listen()
        var lines = ["  redis:       \(cluster.configuration.url) (node \(cluster.node); classes and recordings live there)"]
        for h in hosting.classes.hosts.sorted(by: { $0.code < $1.code }) { lines.append("  class:       \(h.code) (\(h.title))") }
        printBanner(what: "studio server, cluster node \(cluster.node)", hosting: hosting, settings: settings, limits: limits,
                    links: links, extra: lines)

        // Stopping a node never ends a class: its classes go to other nodes at once.
        hosting.handleSignals(links: links, redirect: redirect, graceSeconds: 0,
            suspend: { _ in cluster.shutdown() },
            end: { cluster.shutdown() })
    }
}

extension Serve {
    /// What the terminal shows once the node listens: where, the class links, how to open one.
    func printBanner(what: String, hosting: Hosting, settings: Settings, limits: StudioLimits, links: JoinLinks, extra: [String]) {
        var out = "classctl serve — \(what) (up to \(limits.maxClasses) classes, \(limits.maxPhones) phones)\n\n"
        out += "  listening:   \(Banner.listening(host: settings.host, port: hosting.server.port, secure: hosting.tls != nil))\n"
        out += "  links:       \(links.preferred)/c/CODE\n"
        out += "  open one:    CLASSCTL_STUDIO_KEY=… classctl start PLAN --server \(links.preferred)\n"
        for line in extra { out += line + "\n" }
        FileHandle.standardOutput.write(Data((out + "\n").utf8))
    }
}
