// The classes a server hosts, and the HTTP routes around them: pages, JSON API, metrics.
import Dispatch
import Foundation
import Logging
import HTTPCodec
import NetServer
import WebSocketCodec

/// A class as this server's routes and sockets reach it: the class itself (one node), or
/// its relay on this node (a cluster). Any thread; nothing here waits for a class queue.
public protocol ClassHost: AnyObject, Sendable {
    var code: String { get }
    var title: String { get }
    func setLinkBase(_ base: @escaping @Sendable () -> String)
    /// The delegate of a phone's WebSocket that joins this class.
    func makeSocket(address: String) -> any WebSocketDelegate
    /// Published after every change (a relay's: what it last heard from the class).
    var publicView: PublicView { get }
    /// GET /api/classes/CODE.
    func snapshotJSON() -> String
}

extension ClassSession: ClassHost {
    public var title: String { plan.title }
    public func makeSocket(address: String) -> any WebSocketDelegate { ClassSocket(session: self, address: address) }
}

/// The class registry. `classes` is guarded by its lock; routes run on loop queues.
public final class ClassServer: Sendable {
    private let classes = Locked<[String: any ClassHost]>([:])
    private let defaultCode = Locked<String?>(nil)
    private let started = wallClockMillis()
    /// Renders a QR code of a link as SVG (provided by the caller so this module stays small).
    private let qrSVG: @Sendable (String) -> String?
    /// The public base URL for join links (e.g. "http://192.168.1.5:8080").
    private let baseURL = Locked<String>("")
    /// Set on a studio server (`classctl serve`): opens classes on `POST /api/classes`.
    private let studioRef = Locked<Studio?>(nil)
    /// More metric families (complete text lines, HELP and TYPE included): a cluster's.
    private let moreMetrics = Locked<[@Sendable () -> [String]]>([])

    /// Adds metric lines to /metrics (called on a loop: must not wait).
    public func addMetrics(_ lines: @escaping @Sendable () -> [String]) { moreMetrics.withLock { $0.append(lines) } }

    public init(qrSVG: @escaping @Sendable (String) -> String? = { _ in nil }) {
        self.qrSVG = qrSVG
    }

    public func setBaseURL(_ url: String) { baseURL.withLock { $0 = url } }
    public var publicBaseURL: String { baseURL.withLock { $0 } }

    public func attach(_ studio: Studio) { studioRef.withLock { $0 = studio } }
    var studio: Studio? { studioRef.withLock { $0 } }

    public func add(_ session: any ClassHost, isDefault: Bool = true) {
        session.setLinkBase { [weak self] in self?.publicBaseURL ?? "" }
        classes.withLock { $0[session.code] = session }
        if isDefault { defaultCode.withLock { $0 = session.code } }
    }

    public func remove(code: String) { classes.withLock { _ = $0.removeValue(forKey: code) } }

    /// The class (or its relay) of `code`; nil: the default class.
    public func host(code: String?) -> (any ClassHost)? {
        let c = code ?? defaultCode.withLock { $0 }
        guard let c else { return nil }
        return classes.withLock { $0[c] }
    }

    public func session(code: String?) -> ClassSession? { host(code: code) as? ClassSession }

    /// The classes that run here (not a cluster's relays).
    public var all: [ClassSession] { hosts.compactMap { $0 as? ClassSession } }

    /// Every class phones can join here.
    public var hosts: [any ClassHost] { classes.withLock { Array($0.values) } }

    /// What the class pages may load: their own scripts and styles, the class's WebSocket
    /// (ws: or wss:), and data: images and sounds.
    public static let contentSecurityPolicy = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; media-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

    /// Installs the routes, the WebSocket endpoint and the pages' policy into a server configuration.
    public func install(into config: inout ServerConfiguration) {
        config.webSocketLimits.maxMessageBytes = ClassLimits.maxMessageBytes
        config.contentSecurityPolicy = Self.contentSecurityPolicy
        config.plainHTTPOnTLSMessage = "This class is served over https: use https:// in the address."
        config.webSocketRoute = { [self] request, connection in
            guard request.path == "/ws" else { return nil }
            let code = Self.queryValue(request.query, "class")
            guard let s = host(code: code) else { return UnknownClassSocket() }
            if let studio, studio.connectedPhones() >= studio.limits.maxPhones {
                return FullServerSocket(limit: studio.limits.maxPhones)
            }
            return s.makeSocket(address: connection.clientAddress(for: request))
        }
        config.responder = { [self] request, connection in
            route(request, server: connection.server)
        }
    }

    static func queryValue(_ query: String?, _ name: String) -> String? {
        guard let query else { return nil }
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.first == Substring(name), kv.count == 2 { return String(kv[1]).removingPercentEncoding }
        }
        return nil
    }

    private func route(_ request: HTTPRequest, server: Server?) -> HTTPResponse? {
        let path = request.path
        let isRead = request.method == "GET" || request.method == "HEAD"
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if path == "/" || path == "/index.html" {
            guard isRead else { return nil }
            return server?.staticResponse(for: request, file: "/participant.html")
        }
        if parts.first == "c", parts.count >= 2 {
            guard isRead else { return .methodNotAllowed(allow: "GET, HEAD") }
            guard let s = host(code: parts[1]) else { return notFoundPage(request, server: server) }
            if parts.count == 2 { return server?.staticResponse(for: request, file: "/participant.html") }
            if parts.count == 3 && parts[2] == "instructor" { return server?.staticResponse(for: request, file: "/instructor.html") }
            // The big screen at the track (a TV or projector): lobby with the QR code, then the class.
            if parts.count == 3 && parts[2] == "screen" { return server?.staticResponse(for: request, file: "/screen.html") }
            if parts.count == 3 && parts[2] == "qr.svg" {
                let link = baseURL.withLock { $0 } + "/c/\(s.code)"
                guard let svg = qrSVG(link) else { return .text(404, "no QR code renderer") }
                var h = HTTPHeaders(); h.add("Content-Type", "image/svg+xml"); h.add("Cache-Control", "no-cache")
                return HTTPResponse(status: 200, headers: h, body: Array(svg.utf8))
            }
            return .text(404, "not found")
        }
        if parts.first == "api", parts.count == 2, parts[1] == "classes", request.method == "POST", let studio {
            return openClass(request, studio: studio)
        }
        if parts.first == "api", parts.count >= 2, parts[1] == "classes" {
            guard isRead else { return .methodNotAllowed(allow: "GET, HEAD") }
            if parts.count == 2 {
                let list = hosts.sorted { $0.code < $1.code }.map { s -> String in
                    let v = s.publicView
                    var o = JSONObject()
                    o.add("code", s.code); o.add("title", s.title); o.add("status", v.snapshot.status.rawValue); o.add("participants", v.participants)
                    return o.done
                }
                return Self.json(JSONObject.array(list))
            }
            guard parts.count == 3, let s = host(code: parts[2]) else { return .text(404, "no such class") }
            return Self.json(s.snapshotJSON())
        }
        if path == "/metrics" {
            guard isRead, let server else { return .methodNotAllowed(allow: "GET, HEAD") }
            return metrics(server)
        }
        return nil
    }

    /// A class code that is not here (ended, or mistyped): the styled page saying so, as 404.
    private func notFoundPage(_ request: HTTPRequest, server: Server?) -> HTTPResponse {
        var plain = request
        plain.headers.remove("If-None-Match")     // always the page itself, never a 304
        plain.headers.remove("If-Modified-Since")
        guard var page = server?.staticResponse(for: plain, file: "/not-found.html") else {
            return .text(404, "There is no class with that code here: it has ended, or the link is mistyped.")
        }
        page.status = 404
        page.headers.set("Cache-Control", "no-store")
        return page
    }

    static func json(_ text: String, status: Int = 200, headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var h = headers; h.add("Content-Type", "application/json"); h.add("Cache-Control", "no-store")
        return HTTPResponse(status: status, headers: h, body: Array(text.utf8))
    }

    static func jsonError(_ status: Int, _ message: String, headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var o = JSONObject(); o.add("error", message)
        return json(o.done, status: status, headers: headers)
    }

    /// `POST /api/classes` on a studio server: the plan (YAML or JSON) in the body, the studio
    /// key as a bearer token. 201 with the links; 401, 422 with every diagnostic, or 503 when full.
    private func openClass(_ request: HTTPRequest, studio: Studio) -> HTTPResponse {
        guard studio.authorized(request.headers["Authorization"]) else {
            var h = HTTPHeaders(); h.add("WWW-Authenticate", "Bearer realm=\"classctl studio\"")
            return Self.jsonError(401, "opening a class needs the studio key (Authorization: Bearer KEY)", headers: h)
        }
        guard !request.body.isEmpty else { return Self.jsonError(400, "the request body must be the class plan (YAML or JSON)") }
        switch studio.open(planText: request.body) {
        case .failure(.unauthorized):
            return Self.jsonError(401, "opening a class needs the studio key")
        case .failure(.invalidPlan(let diagnostics)):
            var o = JSONObject()
            o.add("error", "the plan is not valid; nothing was opened")
            o.add("diagnostics", raw: JSONObject.array(diagnostics.map { d in
                var x = JSONObject()
                x.add("severity", d.severity.rawValue); x.add("line", d.line); x.add("column", d.column)
                x.add("path", d.path); x.add("message", d.message); x.add("text", d.formatted)
                return x.done
            }))
            return Self.json(o.done, status: 422)
        case .failure(.full(let why)):
            var h = HTTPHeaders(); h.add("Retry-After", "60")
            return Self.jsonError(503, why, headers: h)
        case .failure(.failed(let why)):
            return Self.jsonError(500, why)
        case .success(let opened):
            let base = publicBaseURL
            var o = JSONObject()
            o.add("code", opened.code); o.add("title", opened.title); o.add("steps", opened.stepCount)
            o.add("join", "\(base)/c/\(opened.code)")
            o.add("instructor", "\(base)/c/\(opened.code)/instructor#token=\(opened.token)")
            o.add("token", opened.token)
            o.add("qr", "\(base)/c/\(opened.code)/qr.svg")
            o.add("recording", opened.recording)
            var h = HTTPHeaders(); h.add("Location", "/api/classes/\(opened.code)")
            return Self.json(o.done, status: 201, headers: h)
        }
    }

    private func metrics(_ server: Server) -> HTTPResponse {
        let s = server.stats()
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ value: Int) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            lines.append("\(name) \(value)")
        }
        metric("classctl_connections_open", "gauge", "Open TCP connections.", server.openConnections)
        metric("classctl_connections_accepted_total", "counter", "Accepted TCP connections.", s.accepted)
        metric("classctl_http_requests_total", "counter", "HTTP requests served.", s.httpRequests)
        metric("classctl_websockets_opened_total", "counter", "WebSocket upgrades.", s.webSocketsOpened)
        metric("classctl_messages_received_total", "counter", "WebSocket messages received.", s.messagesIn)
        metric("classctl_messages_sent_total", "counter", "WebSocket messages sent (per recipient).", s.messagesOut)
        metric("classctl_bytes_received_total", "counter", "Bytes received.", s.bytesIn)
        metric("classctl_bytes_sent_total", "counter", "Bytes sent.", s.bytesOut)
        metric("classctl_slow_clients_dropped_total", "counter", "Connections closed because their queue exceeded the cap.", s.slowClientsDropped)
        metric("classctl_superseded_messages_total", "counter", "Queued state messages replaced by a newer state.", s.supersededMessages)
        metric("classctl_broadcasts_total", "counter", "Broadcast fan-outs run on event loops.", s.broadcastRuns)
        lines.append("# HELP classctl_broadcast_fanout_seconds Time from a broadcast call to its last write on a loop.")
        lines.append("# TYPE classctl_broadcast_fanout_seconds summary")
        lines.append("classctl_broadcast_fanout_seconds_sum \(Double(s.broadcastMicrosTotal) / 1e6)")
        lines.append("classctl_broadcast_fanout_seconds_count \(s.broadcastRuns)")
        lines.append("# HELP classctl_broadcast_fanout_max_seconds Longest broadcast fan-out so far.")
        lines.append("# TYPE classctl_broadcast_fanout_max_seconds gauge")
        lines.append("classctl_broadcast_fanout_max_seconds \(Double(s.broadcastMicrosMax) / 1e6)")
        // Per class, one family at a time (the text format wants a family's samples together).
        let sessions = hosts.sorted { $0.code < $1.code }
        let views = sessions.map { ($0.code, $0.publicView) }
        func perClass(_ name: String, _ type: String, _ help: String, _ value: (PublicView) -> Int) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            for (code, v) in views { lines.append("\(name){class=\"\(code)\"} \(value(v))") }
        }
        perClass("classctl_class_participants", "gauge", "Participants connected to the class.") { $0.participants }
        perClass("classctl_class_instructors", "gauge", "Instructor consoles connected to the class.") { $0.instructors }
        perClass("classctl_class_token_refusals_total", "counter", "Wrong instructor tokens refused.") { $0.tokenRefusals }
        perClass("classctl_class_stop_signals_total", "counter", "\"I need to stop\" signals raised by participants.") { $0.stopSignals }
        perClass("classctl_class_stop_alerts_open", "gauge", "Stop signals the instructor has not acknowledged yet.") { $0.openStopAlerts }
        metric("classctl_uptime_seconds", "gauge", "Seconds since this server started.", Int((wallClockMillis() - started) / 1000))
        for more in moreMetrics.withLock({ $0 }) { lines += more() }
        var h = HTTPHeaders(); h.add("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        return HTTPResponse(status: 200, headers: h, body: Array((lines.joined(separator: "\n") + "\n").utf8))
    }
}

/// A studio server past its phone limit: says so and closes (1013, try again later).
final class FullServerSocket: WebSocketDelegate {
    let limit: Int
    init(limit: Int) { self.limit = limit }
    func webSocketDidOpen(_ c: Connection) {
        c.send(text: ServerMessage.error("server-full", "This server is full (\(limit) phones). Try again in a minute, or ask the instructor."))
        c.close(code: WebSocketCloseCode.tryAgainLater, reason: "server full")
    }
    func webSocket(_ c: Connection, didReceiveText text: [UInt8]) {}
}

/// For `/ws?class=UNKNOWN`: says so and closes (1008).
final class UnknownClassSocket: WebSocketDelegate {
    func webSocketDidOpen(_ c: Connection) {
        c.send(text: ServerMessage.error("unknown-class", "There is no class with that code on this server."))
        c.close(code: WebSocketCloseCode.policyViolation, reason: "unknown class")
    }
    func webSocket(_ c: Connection, didReceiveText text: [UInt8]) {}
}
