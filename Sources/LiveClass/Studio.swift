// A studio server (`classctl serve`): no class of its own; instructors open classes on it with
// a studio key (`POST /api/classes`, or `classctl start PLAN --server URL`). Each class has its
// own code, token, recording and metrics; a finished class leaves after a grace period; limits
// say how many classes and phones the server takes.
import Dispatch
import Foundation
import Logging
import ClassPlan
import ClassEngine
import NetServer
import TLS

public struct StudioLimits: Sendable {
    /// Classes open at once (running, idle or finished within their grace).
    public var maxClasses = 50
    /// Phones and consoles connected over all classes.
    public var maxPhones = 19_000
    /// How long a finished class stays (its phones see the end, its summary can be read).
    public var finishedGraceMs: Int64 = 10 * 60_000
    public init() {}
}

/// `sessions` state is behind ClassServer's lock; this type only holds configuration and a lock
/// of its own for counting opens. Any thread.
public final class Studio: Sendable {
    let classes: ClassServer
    let server: Server
    let studioKey: [UInt8]
    let recordDirectory: URL?
    let limits: StudioLimits
    let leadMs: Int64
    let logger: Logger
    /// Told of every class opened here, with its token (the CLI keeps it beside the recording).
    let onOpen: @Sendable (ClassSession, String) -> Void
    /// Serialises opening classes (the limit check and the registration go together).
    private let opening = Locked(())
    /// Opens classes somewhere else than in this process alone (a cluster: in Redis, this node
    /// taking the lease); nil: here.
    private let opener: (any ClassOpener)?

    public init(classes: ClassServer, server: Server, studioKey: String, recordDirectory: URL?,
                limits: StudioLimits = StudioLimits(), leadMs: Int64 = 300, logger: Logger,
                opener: (any ClassOpener)? = nil,
                onOpen: @escaping @Sendable (ClassSession, String) -> Void = { _, _ in }) {
        self.onOpen = onOpen
        self.opener = opener
        self.classes = classes
        self.server = server
        self.studioKey = Array(studioKey.utf8)
        self.recordDirectory = recordDirectory
        self.limits = limits
        self.leadMs = leadMs
        self.logger = logger
    }

    public enum OpenError: Error, Equatable {
        case unauthorized
        case invalidPlan([Diagnostic])
        case full(String)
        case failed(String)
    }

    public struct Opened: Sendable {
        public let code: String
        public let title: String
        public let stepCount: Int
        public let token: String
        /// Where it is recorded (a file, or `redis://…#CODE`).
        public let recording: String?
        /// The class, when it runs in this process.
        public let session: ClassSession?

        public init(code: String, title: String, stepCount: Int, token: String, recording: String?, session: ClassSession? = nil) {
            self.code = code
            self.title = title
            self.stepCount = stepCount
            self.token = token
            self.recording = recording
            self.session = session
        }
    }

    /// Whether the request carries the studio key (`Authorization: Bearer KEY`).
    func authorized(_ header: String?) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        return constantTimeEquals(Array(header.dropFirst(7).utf8), studioKey)
    }

    /// Validates the plan text (YAML or JSON) with the same diagnostics as `classctl validate`,
    /// then opens the class. Any thread.
    public func open(planText: [UInt8], code wanted: String? = nil) -> Result<Opened, OpenError> {
        let (plan, diagnostics) = PlanLoader.parse(data: planText, file: "plan")
        guard let plan, !diagnostics.contains(where: { $0.severity == .error }) else {
            return .failure(.invalidPlan(diagnostics))
        }
        return opening.withLock { _ -> Result<Opened, OpenError> in
            let open = classes.hosts.count
            guard open < limits.maxClasses else {
                return .failure(.full("this studio server already runs \(open) classes (its limit is \(limits.maxClasses)); end one or use another server"))
            }
            let token = Self.randomToken()
            if let opener {
                let result = opener.open(plan: plan, token: token, code: wanted)
                if case .success(let o) = result { logger.info("studio: opened class \(o.code) (\(plan.title))") }
                return result
            }
            var code = wanted ?? Self.randomCode()
            while wanted == nil && classes.host(code: code) != nil { code = Self.randomCode() }
            if classes.host(code: code) != nil { return .failure(.failed("a class with the code \(code) is already open")) }
            do {
                let session = try ClassSession(code: code, plan: plan, instructorToken: token, server: server, leadMs: leadMs,
                                               recordDirectory: recordDirectory, logger: logger)
                adopt(session)
                onOpen(session, token)
                logger.info("studio: opened class \(code) (\(plan.title))")
                return .success(Opened(code: code, title: plan.title, stepCount: session.steps.count, token: token,
                                       recording: session.recordingPath, session: session))
            } catch {
                return .failure(.failed("cannot start the class's recording: \(error)"))
            }
        }
    }

    /// Registers a class (opened here, or resumed at start-up) and removes it a grace period
    /// after it finishes.
    public func adopt(_ session: ClassSession) {
        classes.add(session, isDefault: false)
        let grace = limits.finishedGraceMs
        session.whenFinished { [classes, logger] in
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(grace))) {
                // Run again within the grace: it stays.
                guard session.publicView.snapshot.status == .finished else { return }
                classes.remove(code: session.code)
                logger.info("studio: class \(session.code) removed \(grace / 1000) s after it finished")
            }
        }
    }

    /// Phones and consoles over every class, from their published views (never waits).
    func connectedPhones() -> Int {
        classes.hosts.reduce(0) { $0 + $1.publicView.participants + $1.publicView.instructors }
    }

    public static func randomCode() -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<5).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
    }

    static func randomToken() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }
}

/// Opens a studio's classes elsewhere than in this process alone (ClassCluster: in Redis).
/// Called on the route's loop; it must answer within a couple of seconds.
public protocol ClassOpener: Sendable {
    /// A class of `plan` whose instructor token is `token`, under `code` or a new random one.
    func open(plan: ClassPlan, token: String, code: String?) -> Result<Studio.Opened, Studio.OpenError>
}
