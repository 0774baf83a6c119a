import Foundation
import Glibc
import WebSocketCodec

/// Counters gathered while the benchmark runs.
struct Counters {
    var openSubscribers = 0
    var publisherOpen = false
    var inProgress = 0
    var failedForGood = 0
    var retries = 0
    var connectErrors = 0
    var handshakeErrors = 0
    /// TLS handshakes that failed (also counted in `handshakeErrors`), and the first reason.
    var tlsHandshakeErrors = 0
    var firstTLSError: String?
    var deflateNegotiated = 0
    var noContextTakeover = 0
    var closedByServer = 0
    var closedDuringLoad = 0
    var protocolErrors = 0
    var inflateErrors = 0
    var pings: UInt64 = 0
    var fragmentedMessages: UInt64 = 0
    var deliveries: UInt64 = 0
    var duplicates: UInt64 = 0
    var outOfOrder: UInt64 = 0
    var strayMessages: UInt64 = 0
    var publisherEchoes: UInt64 = 0
    var binaryMessages: UInt64 = 0
    var noMarkerMessages: UInt64 = 0
    var bytesReceived: UInt64 = 0
    var firstConnectAt: UInt64 = 0
    var lastOpenAt: UInt64 = 0
}

/// The single-threaded epoll client: N subscribers and one publisher, driven through
/// the phases connect -> settle -> load -> drain -> close. Single-threaded on purpose:
/// the generator must cost the machine as little as possible and must not hide its
/// own queueing behind threads (the shared C loadgen works the same way).
final class LoadGenerator {
    let config: BenchConfig
    private let epoll: Epoll
    private var connections: [BenchConnection]
    private var publisher: BenchConnection { connections[config.connections] }

    private var counters = Counters()
    private var broadcasts: [Broadcast] = []
    /// One bit per (broadcast, subscriber): exact duplicate detection.
    private var received: [UInt64] = []
    private let wordsPerBroadcast: Int
    private var settledCount = 0
    private var latency = LogHistogram()
    private var loadActive = false
    private var subscribersAtLoadStart = 0

    /// The shared client SSL_CTX when either URL is wss://.
    private let tlsContext: TLSClientContext?
    private let receiveBuffer: UnsafeMutableRawBufferPointer
    /// Scratch for inflated messages, shared by all connections (one message at a time).
    private var inflateBuffer: [UInt8] = []
    private var errorReports: [String: Int] = [:]

    init(config: BenchConfig) throws {
        self.config = config
        epoll = try Epoll()
        connections = (0...config.connections).map { BenchConnection(index: $0, isPublisher: $0 == config.connections) }
        wordsPerBroadcast = (config.connections + 63) / 64
        if config.subscriber.isSecure || config.publisher.isSecure {
            tlsContext = try TLSClientContext(caFile: config.tlsCAFile)
            if config.tlsCAFile == nil && !config.quiet {
                printError("classbench: wss:// without --tls-ca: the server's certificate is not verified")
            }
        } else {
            tlsContext = nil
        }
        receiveBuffer = .allocate(byteCount: 256 * 1024, alignment: 16)
    }

    deinit {
        for c in connections where c.fd >= 0 { close(c.fd) }
        receiveBuffer.deallocate()
    }

    private func progress(_ message: String) {
        if !config.quiet { printError("classbench: \(message)") }
    }

    /// Prints the first few occurrences of each kind of error, then stays quiet.
    private func report(_ kind: String, _ detail: String) {
        let seen = errorReports[kind, default: 0]
        errorReports[kind] = seen + 1
        if seen < 5 { printError("classbench: \(kind): \(detail)") }
    }

    // MARK: - Phases

    func run() throws -> BenchResult {
        let loadAvgStart = ProcStats.loadAverage()
        let rssBefore = config.serverPID.flatMap(ProcStats.rssKiB(pid:))
        if let pid = config.serverPID, rssBefore == nil {
            throw SystemError("cannot read /proc/\(pid)/status", ESRCH)
        }

        progress("connecting \(config.connections) subscribers + 1 publisher to \(config.subscriberURL)")
        try connectAll()
        let connectSeconds = counters.lastOpenAt > counters.firstConnectAt
            ? Double(counters.lastOpenAt - counters.firstConnectAt) / 1e9 : 0
        progress(String(format: "%d subscribers open in %.2f s (%d failed, %d retries), publisher %@",
                        counters.openSubscribers, connectSeconds, counters.failedForGood, counters.retries,
                        counters.publisherOpen ? "open" : "NOT open"))

        let settleEnd = monotonicNanos() + nanos(config.settle)
        while monotonicNanos() < settleEnd { try pollOnce(timeoutMs: 20) }
        let rssIdle = config.serverPID.flatMap(ProcStats.rssKiB(pid:))
        let openAtIdle = counters.openSubscribers + (counters.publisherOpen ? 1 : 0)

        subscribersAtLoadStart = counters.openSubscribers
        let serverCPUStart = config.serverPID.flatMap(ProcStats.cpuSeconds(pid:))
        let selfCPUStart = ProcStats.selfCPUSeconds()
        let systemStart = ProcStats.systemCPU()
        let bytesStart = counters.bytesReceived
        if !counters.publisherOpen || subscribersAtLoadStart == 0 {
            printError("classbench: nothing to measure (publisher \(counters.publisherOpen ? "open" : "closed"), \(subscribersAtLoadStart) subscribers)")
        }
        progress("load phase, \(config.isThroughputMode ? "throughput" : "latency"), \(config.duration) s")
        let timing = try loadPhase()

        let serverCPUEnd = config.serverPID.flatMap(ProcStats.cpuSeconds(pid:))
        let selfCPUEnd = ProcStats.selfCPUSeconds()
        let systemEnd = ProcStats.systemCPU()
        let rssAfter = config.serverPID.flatMap(ProcStats.rssKiB(pid:))
        let wall = Double(timing.finishedAt &- timing.startedAt) / 1e9

        var fanout: [UInt64] = []
        var lastDelivery: UInt64 = 0
        for b in broadcasts {
            if b.deliveries >= subscribersAtLoadStart && subscribersAtLoadStart > 0 {
                fanout.append(b.lastDeliveryAt > b.sentAt ? b.lastDeliveryAt - b.sentAt : 0)
            }
            lastDelivery = max(lastDelivery, b.lastDeliveryAt)
        }
        fanout.sort()

        func percent(_ start: Double?, _ end: Double?) -> Double? {
            guard let start, let end, wall > 0 else { return nil }
            return 100 * (end - start) / wall
        }
        var systemBusy: Double?
        if let s0 = systemStart, let s1 = systemEnd, s1.total > s0.total {
            systemBusy = 100 * Double(s1.busy &- s0.busy) / Double(s1.total - s0.total)
        }

        let result = BenchResult(
            label: config.label, throughputMode: config.isThroughputMode, rate: config.rate, window: config.window,
            subscriberURL: config.subscriberURL, publisherURL: config.publisherURL,
            tls: config.subscriber.isSecure || config.publisher.isSecure, tlsVerified: tlsContext?.verifies ?? false,
            connections: config.connections, subscribersOpen: subscribersAtLoadStart, counters: counters,
            connectSeconds: connectSeconds, deflateOffered: config.deflate, size: config.template.size,
            duration: config.duration, loadSeconds: Double(timing.loadEndedAt &- timing.startedAt) / 1e9,
            wallSeconds: wall, broadcasts: broadcasts.count, latency: latency, fanout: fanout,
            deliveriesPerSecond: lastDelivery > timing.startedAt
                ? Double(counters.deliveries) / (Double(lastDelivery - timing.startedAt) / 1e9) : 0,
            receivedMbitPerSecond: wall > 0 ? Double(counters.bytesReceived - bytesStart) * 8 / wall / 1e6 : 0,
            serverPID: config.serverPID, rssBeforeKiB: rssBefore, rssIdleKiB: rssIdle, rssAfterKiB: rssAfter,
            connectionsAtIdle: openAtIdle,
            serverCPUPercent: percent(serverCPUStart, serverCPUEnd),
            selfCPUPercent: percent(selfCPUStart, selfCPUEnd) ?? 0,
            systemBusyPercent: systemBusy, cpuCount: sysconf(Int32(_SC_NPROCESSORS_ONLN)),
            loadAverageStart: loadAvgStart, loadAverageEnd: ProcStats.loadAverage())
        return result
    }

    /// Opens every connection: at most `ramp` new ones per second and `maxPending`
    /// handshakes in flight, retrying failures, until all are open or given up, or
    /// the connect timeout.
    private func connectAll() throws {
        let start = monotonicNanos()
        var lastScan = start
        var next = 0
        while true {
            let now = monotonicNanos()
            let elapsed = Double(now - start) / 1e9
            if elapsed > config.connectTimeout {
                printError("classbench: connect timeout: \(counters.openSubscribers)/\(config.connections) subscribers open")
                break
            }
            let allowed = elapsed * config.ramp + 1
            while next < connections.count && Double(next) < allowed && counters.inProgress < config.maxPending {
                try startConnecting(connections[next], now: now)
                next += 1
            }
            if now - lastScan > 50_000_000 {
                lastScan = now
                if try retryScan(now: now) == 0 && next >= connections.count && counters.inProgress == 0 { break }
            }
            try pollOnce(timeoutMs: next < connections.count ? 1 : 20)
        }
    }

    /// Gives up handshakes stuck past the timeout and restarts idle connections.
    /// Returns how many connections still wait for a (re)try.
    private func retryScan(now: UInt64) throws -> Int {
        var waiting = 0
        for c in connections where c.attempts > 0 {
            if c.isInProgress && now - c.attemptStartedAt > BenchConfig.handshakeTimeoutNanos {
                counters.handshakeErrors += 1
                report("handshake", "timed out after 10 s")
                disconnect(c, to: .idle, reset: true)
            }
            guard c.state == .idle else { continue }
            if c.attempts >= BenchConfig.maxAttempts {
                c.state = .failed
                counters.failedForGood += 1
            } else {
                waiting += 1
                if counters.inProgress < config.maxPending {
                    counters.retries += 1
                    try startConnecting(c, now: now)
                }
            }
        }
        return waiting
    }

    private struct LoadTiming {
        var startedAt: UInt64
        var loadEndedAt: UInt64
        var finishedAt: UInt64
    }

    /// Publishes on the fixed schedule (latency mode) or keeps `window` broadcasts in
    /// flight (throughput mode) for `duration`, then drains late deliveries.
    private func loadPhase() throws -> LoadTiming {
        loadActive = true
        defer { loadActive = false }
        let start = monotonicNanos()
        let loadEnd = start + nanos(config.duration)
        let interval: UInt64 = config.rate.map { UInt64(1e9 / $0) } ?? 0
        var drainEnd: UInt64?
        var loadEndedAt: UInt64 = 0
        var oldestUnsettled = 0
        let broadcastTimeout = nanos(config.broadcastTimeout)

        while counters.publisherOpen && subscribersAtLoadStart > 0 {
            let now = monotonicNanos()
            if drainEnd == nil && now >= loadEnd {
                drainEnd = now + nanos(config.drain)
                loadEndedAt = now
            }
            if drainEnd == nil {
                if config.isThroughputMode {
                    while broadcasts.count - settledCount < config.window && counters.publisherOpen { try publish() }
                } else {
                    while now >= start + UInt64(broadcasts.count) * interval && counters.publisherOpen { try publish() }
                }
            }
            // Broadcasts that will never complete (lost, or a subscriber closed) leave the window.
            while oldestUnsettled < broadcasts.count
                    && (broadcasts[oldestUnsettled].settled || now > broadcasts[oldestUnsettled].sentAt + broadcastTimeout) {
                if !broadcasts[oldestUnsettled].settled {
                    broadcasts[oldestUnsettled].settled = true
                    settledCount += 1
                }
                oldestUnsettled += 1
            }
            if let drainEnd, settledCount >= broadcasts.count || now >= drainEnd { break }
            var timeout: Int32 = 20
            if drainEnd == nil && !config.isThroughputMode {
                let due = start + UInt64(broadcasts.count) * interval
                timeout = due > now ? Int32(min((due - now) / 1_000_000, 20)) : 0
            }
            try pollOnce(timeoutMs: timeout)
        }
        let finished = monotonicNanos()
        return LoadTiming(startedAt: start, loadEndedAt: loadEndedAt == 0 ? finished : loadEndedAt, finishedAt: finished)
    }

    /// Sends Close (1000) on every open connection, waits up to 2 s for the servers'
    /// closes, then resets whatever is left.
    func closeAll() {
        let normalClosure: [UInt8] = [0x03, 0xE8]
        for c in connections where c.fd >= 0 {
            guard c.state == .open else {
                disconnect(c, to: .closed, reset: true)
                continue
            }
            c.state = .closing
            sendFrame(c, opcode: .close, payload: normalClosure)
        }
        let deadline = monotonicNanos() + 2_000_000_000
        while monotonicNanos() < deadline && connections.contains(where: { $0.fd >= 0 }) {
            do { try pollOnce(timeoutMs: 20) } catch { break }
        }
        for c in connections where c.fd >= 0 { disconnect(c, to: .closed, reset: true) }
    }

    // MARK: - Sockets

    private func startConnecting(_ c: BenchConnection, now: UInt64) throws {
        c.attempts += 1
        c.attemptStartedAt = now
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket (is the open-files limit high enough?)") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = config.endpoint(for: c).socketAddress
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc < 0 && errno != EINPROGRESS {
            counters.connectErrors += 1
            report("connect", String(cString: strerror(errno)))
            close(fd)
            c.state = .idle
            return
        }
        try epoll.add(fd, token: c.index, writable: true)
        c.fd = fd
        c.watchingWritable = true
        c.state = .connecting
        counters.inProgress += 1
        if counters.firstConnectAt == 0 { counters.firstConnectAt = now }
    }

    /// Closes the socket and moves the connection to `state`. `reset` sends RST
    /// (SO_LINGER 0) so no TIME_WAIT is left behind on the client side.
    private func disconnect(_ c: BenchConnection, to state: BenchConnection.State, reset: Bool) {
        if c.fd >= 0 {
            // Best effort close_notify; a reset connection is abandoned, not closed politely.
            if let tls = c.tls, !reset { tls.shutdown() }
            if reset {
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            }
            close(c.fd)  // also removes it from epoll
            c.fd = -1
        }
        if c.isInProgress { counters.inProgress -= 1 }
        if c.state == .open {
            if c.isPublisher {
                counters.publisherOpen = false
            } else {
                counters.openSubscribers -= 1
                if loadActive { counters.closedDuringLoad += 1 }
            }
        }
        c.state = state
        c.resetBuffers()
    }

    private func pollOnce(timeoutMs: Int32) throws {
        try epoll.poll(timeoutMs: timeoutMs) { event in
            let c = connections[event.token]
            guard c.fd >= 0 else { return }
            if c.state == .connecting {
                if event.writable || event.failed { connectCompleted(c) }
                return
            }
            if let tls = c.tls {
                tlsReady(c, tls, event)
                return
            }
            if event.writable { flush(c) }
            if c.fd >= 0 && (event.readable || event.failed) { readAvailable(c) }
        }
    }

    private func connectCompleted(_ c: BenchConnection) {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length)
        if error != 0 {
            counters.connectErrors += 1
            report("connect", String(cString: strerror(error)))
            disconnect(c, to: .idle, reset: false)
            return
        }
        let endpoint = config.endpoint(for: c)
        if endpoint.isSecure, let tlsContext {
            do {
                c.tls = try tlsContext.makeConnection(fd: c.fd, endpoint: endpoint)
            } catch {
                tlsHandshakeFailed(c, error.description)
                return
            }
            c.state = .tlsHandshaking
            tlsHandshakeStep(c)
            return
        }
        sendUpgradeRequest(c)
    }

    private func sendUpgradeRequest(_ c: BenchConnection) {
        let handshake = ClientHandshake(key: randomHandshakeKey(), offerDeflate: config.deflate,
                                        acceptValue: webSocketAcceptValue(forKey:))
        c.handshake = handshake
        c.state = .handshaking
        let endpoint = config.endpoint(for: c)
        write(c, handshake.request(target: endpoint.target, host: endpoint.hostHeader, extraHeaders: config.extraHeaders))
    }

    // MARK: - TLS (wss://)

    /// Epoll readiness for a wss:// connection past TCP connect. OpenSSL may need the
    /// opposite direction from the one the caller is after (a write waiting for a read,
    /// a read for a write), so each side also runs when the other's wait is over.
    private func tlsReady(_ c: BenchConnection, _ tls: TLSClientConnection, _ event: Epoll.Event) {
        if c.state == .tlsHandshaking {
            tlsHandshakeStep(c)
            return
        }
        if event.writable || (event.readable && tls.writeWantsRead) { flush(c) }
        if c.fd >= 0 && (event.readable || event.failed || (event.writable && tls.readWantsWrite)) { readTLS(c, tls) }
    }

    private func tlsHandshakeStep(_ c: BenchConnection) {
        guard let tls = c.tls else { return }
        switch tls.handshake() {
        case .done:
            sendUpgradeRequest(c)
        case .wantRead:
            watchWritable(c, false)
        case .wantWrite:
            watchWritable(c, true)
        case .closed:
            tlsHandshakeFailed(c, "TLS handshake: connection closed by the server")
        case .error(let why):
            tlsHandshakeFailed(c, why)
        }
    }

    private func tlsHandshakeFailed(_ c: BenchConnection, _ why: String) {
        counters.tlsHandshakeErrors += 1
        if counters.firstTLSError == nil { counters.firstTLSError = why }
        handshakeFailed(c, why, kind: "wss")
    }

    /// Reads until OpenSSL wants more from the socket: it may hold decrypted bytes that
    /// epoll cannot see. After a few records, a socket with more bytes in the kernel is
    /// left for the next epoll round (level-triggered) so other connections get a turn.
    private func readTLS(_ c: BenchConnection, _ tls: TLSClientConnection) {
        var reads = 0
        while c.fd >= 0 {
            let result = tls.read(into: receiveBuffer)
            let now = monotonicNanos()
            switch result {
            case .done(let n):
                counters.bytesReceived &+= UInt64(n)
                received(c, UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<n]), now: now)
                reads += 1
                if reads >= 16 && !tls.hasBufferedInput { return }
            case .wantRead:
                watchWritable(c, tls.wantsWritable(outboxPending: c.outboxSent < c.outbox.count))
                return
            case .wantWrite:
                watchWritable(c, true)
                return
            case .closed:
                peerGone(c, "connection closed")
                return
            case .error(let why):
                peerGone(c, why)
                return
            }
        }
    }

    private func watchWritable(_ c: BenchConnection, _ writable: Bool) {
        guard c.fd >= 0, writable != c.watchingWritable else { return }
        do {
            try epoll.modify(c.fd, token: c.index, writable: writable)
            c.watchingWritable = writable
        } catch {
            report("epoll", "\(error)")
            disconnect(c, to: .closed, reset: true)
        }
    }

    private func write(_ c: BenchConnection, _ bytes: [UInt8]) {
        guard c.fd >= 0 else { return }
        c.outbox += bytes
        flush(c)
    }

    /// Writes as much of the outbox as the kernel (or OpenSSL) takes; watches for
    /// writability only while something is left or OpenSSL asks for it.
    private func flush(_ c: BenchConnection) {
        let stillOpen = c.tls.map { writeTLS(c, $0) } ?? writePlain(c)
        guard stillOpen else { return }
        let drained = c.outboxSent == c.outbox.count
        if drained {
            c.outbox.removeAll(keepingCapacity: false)
            c.outboxSent = 0
        }
        watchWritable(c, c.tls?.wantsWritable(outboxPending: !drained) ?? !drained)
    }

    /// Sends until the outbox is empty or the socket is full; false if the connection was dropped.
    private func writePlain(_ c: BenchConnection) -> Bool {
        while c.outboxSent < c.outbox.count {
            let sent = c.outbox.withUnsafeBytes { all in
                let unsent = UnsafeRawBufferPointer(rebasing: all[c.outboxSent...])
                return send(c.fd, unsent.baseAddress, unsent.count, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                disconnect(c, to: c.isInProgress ? .idle : .closed, reset: false)
                return false
            }
            c.outboxSent += sent
        }
        return true
    }

    /// `writePlain` through OpenSSL. A write that must wait is retried later from the same
    /// outbox offset: the same bytes, possibly with more appended (moving-buffer mode).
    private func writeTLS(_ c: BenchConnection, _ tls: TLSClientConnection) -> Bool {
        while c.outboxSent < c.outbox.count {
            let result = c.outbox.withUnsafeBytes { all in
                tls.write(UnsafeRawBufferPointer(rebasing: all[c.outboxSent...]))
            }
            switch result {
            case .done(let n):
                c.outboxSent += n
            case .wantRead, .wantWrite:
                return true
            case .closed:
                disconnect(c, to: c.isInProgress ? .idle : .closed, reset: false)
                return false
            case .error(let why):
                report("TLS write", why)
                disconnect(c, to: c.isInProgress ? .idle : .closed, reset: true)
                return false
            }
        }
        return true
    }

    private func readAvailable(_ c: BenchConnection) {
        // A few reads per wake-up, then let other sockets have their turn.
        for _ in 0..<4 {
            guard c.fd >= 0 else { return }
            let n = recv(c.fd, receiveBuffer.baseAddress, receiveBuffer.count, 0)
            let now = monotonicNanos()
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                peerGone(c, String(cString: strerror(errno)))
                return
            }
            if n == 0 {
                peerGone(c, "connection closed")
                return
            }
            counters.bytesReceived &+= UInt64(n)
            received(c, UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<n]), now: now)
            if n < receiveBuffer.count { return }
        }
    }

    private func peerGone(_ c: BenchConnection, _ why: String) {
        if c.state == .handshaking {
            handshakeFailed(c, why)
        } else {
            disconnect(c, to: .closed, reset: false)
        }
    }

    private func handshakeFailed(_ c: BenchConnection, _ why: String, kind: String = "handshake failed") {
        counters.handshakeErrors += 1
        report(kind, why)
        disconnect(c, to: .idle, reset: true)  // retried by the connect phase
    }

    // MARK: - Protocol

    private func received(_ c: BenchConnection, _ bytes: UnsafeRawBufferPointer, now: UInt64) {
        switch c.state {
        case .handshaking:
            c.headBytes += bytes
            handshakeData(c, now: now)
        case .open, .closing:
            parseFrames(c, bytes, now: now)
        default:
            break
        }
    }

    private func handshakeData(_ c: BenchConnection, now: UInt64) {
        guard let handshake = c.handshake else { return }
        do {
            guard let headLength = try ClientHandshake.headLength(in: c.headBytes) else { return }
            let accepted = try handshake.validate(head: Array(c.headBytes[..<headLength]))
            let rest = Array(c.headBytes[headLength...])
            c.headBytes = []
            if accepted.deflate {
                c.inflater = MessageInflater(noContextTakeover: accepted.serverNoContextTakeover)
                counters.deflateNegotiated += 1
                if accepted.serverNoContextTakeover { counters.noContextTakeover += 1 }
            }
            c.state = .open
            c.handshake = nil
            c.lastSequence = -1
            counters.inProgress -= 1
            counters.lastOpenAt = now
            if c.isPublisher {
                counters.publisherOpen = true
                if let hello = config.publisherHello { sendFrame(c, opcode: .text, payload: Array(hello.utf8)) }
            } else {
                counters.openSubscribers += 1
                if let hello = config.subscriberHello { sendFrame(c, opcode: .text, payload: Array(hello.utf8)) }
            }
            // Frames may follow the head in the same read.
            if !rest.isEmpty { rest.withUnsafeBytes { parseFrames(c, $0, now: now) } }
        } catch {
            handshakeFailed(c, "\(error)")
        }
    }

    /// Runs the codec's decoder over one read. A frame whose payload lies entirely in
    /// this read is handled in place, without a copy (the common case); a payload split
    /// across reads is gathered in the connection first.
    private func parseFrames(_ c: BenchConnection, _ input: UnsafeRawBufferPointer, now: UInt64) {
        var index = 0
        var wholePayload: UnsafeRawBufferPointer?
        while c.fd >= 0 && (c.state == .open || c.state == .closing) {
            let step: WebSocketFrameDecoder.Step
            do {
                step = try c.decoder.next(input, index: &index)
            } catch {
                protocolError(c, "invalid frame length")
                return
            }
            switch step {
            case .needMoreData:
                return
            case .header(let header):
                do {
                    try ServerFrameRules.check(header, deflate: c.inflater != nil)
                } catch {
                    protocolError(c, "\(error)")
                    return
                }
                c.frameHeader = header
                wholePayload = nil
            case .payload(let slice, _):
                // Server frames are unmasked (checked above), so the slice is the payload.
                if c.splitPayload.isEmpty, let header = c.frameHeader, UInt64(slice.count) == header.payloadLength {
                    wholePayload = slice
                } else {
                    c.splitPayload += slice
                }
            case .frameEnd:
                guard let header = c.frameHeader else { return }
                c.frameHeader = nil
                if let payload = wholePayload {
                    wholePayload = nil
                    frame(c, header, payload, now: now)
                } else {
                    // Moved out first: handlers may reset the connection's buffers.
                    let gathered = c.splitPayload
                    c.splitPayload = []
                    gathered.withUnsafeBytes { frame(c, header, $0, now: now) }
                }
            }
        }
    }

    private func protocolError(_ c: BenchConnection, _ why: String) {
        counters.protocolErrors += 1
        report("protocol error", why)
        disconnect(c, to: .closed, reset: true)
    }

    private func frame(_ c: BenchConnection, _ header: WebSocketFrameHeader, _ payload: UnsafeRawBufferPointer, now: UInt64) {
        // ServerFrameRules.check has refused unknown opcodes.
        guard let opcode = header.opcode else { return }
        switch opcode {
        case .close:
            if c.state == .closing {
                // The server answered our Close; wait for its FIN.
                return
            }
            counters.closedByServer += 1
            let code = payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : 1005
            report("closed by server", "code \(code)")
            sendFrame(c, opcode: .close, payload: Array(payload.prefix(2)))
            disconnect(c, to: .closed, reset: false)
        case .ping:
            counters.pings += 1
            sendFrame(c, opcode: .pong, payload: Array(payload))
        case .pong:
            break
        case .text, .binary:
            if c.inFragmentedMessage {
                protocolError(c, "new message before the fragmented one finished")
                return
            }
            if header.fin {
                message(c, opcode: opcode, compressed: header.rsv1, payload, now: now)
            } else {
                c.inFragmentedMessage = true
                c.fragmentOpcode = opcode
                c.fragmentCompressed = header.rsv1
                c.fragments = Array(payload)
            }
        case .continuation:
            guard c.inFragmentedMessage else {
                protocolError(c, "continuation frame without a message")
                return
            }
            guard c.fragments.count + payload.count <= MessageInflater.maxMessage else {
                protocolError(c, "fragmented message too large")
                return
            }
            c.fragments += payload
            if header.fin {
                counters.fragmentedMessages += 1
                let whole = c.fragments
                c.fragments = []
                c.inFragmentedMessage = false
                whole.withUnsafeBytes { message(c, opcode: c.fragmentOpcode, compressed: c.fragmentCompressed, $0, now: now) }
            }
        }
    }

    private func message(_ c: BenchConnection, opcode: WebSocketOpcode, compressed: Bool, _ payload: UnsafeRawBufferPointer, now: UInt64) {
        if compressed {
            guard let inflater = c.inflater else {
                protocolError(c, "compressed message without permessage-deflate")
                return
            }
            do {
                try inflater.inflateMessage(payload, into: &inflateBuffer)
                inflateBuffer.withUnsafeBytes { decoded(c, opcode: opcode, $0, now: now) }
            } catch {
                counters.inflateErrors += 1
                report("inflate", "\(error)")
                disconnect(c, to: .closed, reset: true)
            }
            return
        }
        decoded(c, opcode: opcode, payload, now: now)
    }

    private func decoded(_ c: BenchConnection, opcode: WebSocketOpcode, _ text: UnsafeRawBufferPointer, now: UInt64) {
        // The publisher gets its own broadcasts back from relays that include the sender.
        if c.isPublisher {
            counters.publisherEchoes += 1
            return
        }
        guard opcode == .text else {
            counters.binaryMessages += 1
            return
        }
        guard let sequence = findSequenceMarker(text) else {
            counters.noMarkerMessages += 1
            return
        }
        recordDelivery(c, sequence: sequence, now: now)
    }

    private func recordDelivery(_ c: BenchConnection, sequence: UInt64, now: UInt64) {
        guard loadActive, sequence < UInt64(broadcasts.count) else {
            counters.strayMessages += 1
            return
        }
        let seq = Int(sequence)
        let word = seq * wordsPerBroadcast + c.index / 64
        let bit: UInt64 = 1 << UInt64(c.index % 64)
        if received[word] & bit != 0 {
            counters.duplicates += 1
            return
        }
        received[word] |= bit
        if Int64(seq) < c.lastSequence { counters.outOfOrder += 1 }
        c.lastSequence = max(c.lastSequence, Int64(seq))

        let sentAt = broadcasts[seq].sentAt
        latency.record(now > sentAt ? now - sentAt : 0)
        counters.deliveries += 1
        broadcasts[seq].deliveries += 1
        broadcasts[seq].lastDeliveryAt = max(broadcasts[seq].lastDeliveryAt, now)
        // Complete once every subscriber still open has it (closed ones must not stall the window).
        if !broadcasts[seq].settled && broadcasts[seq].deliveries >= counters.openSubscribers {
            broadcasts[seq].settled = true
            settledCount += 1
        }
    }

    private func publish() throws {
        let sequence = UInt64(broadcasts.count)
        let frame = clientFrame(opcode: .text, payload: config.template.message(seq: sequence))
        received += repeatElement(0, count: wordsPerBroadcast)
        // The send time is taken just before the write, after building the frame.
        broadcasts.append(Broadcast(sentAt: monotonicNanos()))
        write(publisher, frame)
    }

    private func sendFrame(_ c: BenchConnection, opcode: WebSocketOpcode, payload: [UInt8]) {
        write(c, clientFrame(opcode: opcode, payload: payload))
    }
}

private func nanos(_ seconds: Double) -> UInt64 { UInt64(max(0, seconds) * 1e9) }

/// 16 random bytes, base64: the Sec-WebSocket-Key.
func randomHandshakeKey() -> String {
    var generator = SystemRandomNumberGenerator()
    let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
    return Data(bytes).base64EncodedString()
}
