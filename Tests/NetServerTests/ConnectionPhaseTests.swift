import Testing
@testable import NetServer
import HTTPCodec
import WebSocketCodec

/// The connection's lifecycle as data: transitions and timeouts without sockets.
@Suite struct ConnectionPhaseTests {
    var config: ServerConfiguration {
        var c = ServerConfiguration()
        c.headerTimeoutMs = 10_000; c.idleTimeoutMs = 60_000; c.pingIntervalMs = 20_000
        c.webSocketSilenceTimeoutMs = 60_000; c.closeTimeoutMs = 5_000
        return c
    }

    func webSocket(at t: Int64) -> Connection.Phase {
        .webSocket(WebSocketPhase(machine: WebSocketConnectionMachine(deflate: nil), delegate: TestDelegate(), lastPingAt: t))
    }

    @Test func httpTimesOutAHalfRequestOrAnIdleConnection() {
        var h = HTTPPhase(parser: HTTPRequestParser(limits: HTTPLimits()))
        h.parser.append(Array("GET / HTTP/1.1\r\nHo".utf8))
        #expect(h.next(now: { 1_000 }) == .needMoreData)
        #expect(h.requestStartedAt == 1_000)
        #expect(h.next(now: { 2_000 }) == .needMoreData)
        #expect(h.requestStartedAt == 1_000, "a request's start is kept while it arrives")
        let partial = Connection.Phase.http(h)
        #expect(partial.due(now: 11_000, lastReadAt: 10_900, config: config) == nil)
        #expect(partial.due(now: 11_001, lastReadAt: 10_900, config: config) == .requestTimeout)

        h.parser.append(Array("st: x\r\n\r\n".utf8))
        guard case .request = h.next(now: { 3_000 }) else { Issue.record("no request"); return }
        #expect(h.requestStartedAt == nil)
        let idle = Connection.Phase.http(h)
        #expect(idle.due(now: 63_000, lastReadAt: 3_000, config: config) == nil)
        #expect(idle.due(now: 63_001, lastReadAt: 3_000, config: config) == .drop("idle keep-alive timeout"))
    }

    @Test func webSocketPingsAndDropsASilentPeer() {
        let p = webSocket(at: 0)
        #expect(p.due(now: 19_999, lastReadAt: 19_000, config: config) == nil)
        #expect(p.due(now: 20_000, lastReadAt: 19_000, config: config) == .ping)
        #expect(p.due(now: 60_001, lastReadAt: 0, config: config) == .drop("silent for 60 s"))
        #expect(p.isWebSocket && p.delegate != nil)
    }

    @Test func ourCloseThenThePeersCloseThenClosed() {
        var p = webSocket(at: 0)
        let frame = p.sendClose(code: WebSocketCloseCode.goingAway, reason: "bye", now: 1_000)
        #expect(frame?.first == 0x88)
        guard case .closeSent(_, since: 1_000) = p else { Issue.record("not closeSent: \(p)"); return }
        #expect(p.sendClose(code: WebSocketCloseCode.normal, reason: "", now: 2_000) == nil, "one close frame only")
        #expect(p.due(now: 6_000, lastReadAt: 0, config: config) == nil, "no silence timeout while closing")
        #expect(p.due(now: 6_001, lastReadAt: 0, config: config) == .drop("close timeout"))

        p.beginClosing(now: 3_000)
        guard case .closing(let c) = p else { Issue.record("not closing: \(p)"); return }
        #expect(c.since == 1_000, "the close timeout runs from our close frame")
        #expect(c.delegate != nil && p.isWebSocket)
        #expect(p.due(now: 6_001, lastReadAt: 0, config: config) == .drop("close timeout"))
    }

    @Test func closingAndClosedAreFinal() {
        var p = Connection.Phase.http(HTTPPhase(parser: HTTPRequestParser(limits: HTTPLimits())))
        p.beginClosing(now: 5)
        guard case .closing(let c) = p else { Issue.record("not closing"); return }
        #expect(c.since == 5 && c.delegate == nil && !p.isWebSocket)
        p.beginClosing(now: 9)
        guard case .closing(let again) = p, again.since == 5 else { Issue.record("closing moved"); return }
        #expect(p.withHTTP { _ in 1 } == nil)
        p = .closed
        p.beginClosing(now: 10)
        #expect(p.isClosed && p.due(now: .max, lastReadAt: 0, config: config) == nil)
        #expect(p.sendClose(code: WebSocketCloseCode.normal, reason: "", now: 0) == nil && p.isClosed)
    }
}

@_silgen_name("malloc_usable_size") private func mallocUsableSize(_ p: UnsafeMutableRawPointer?) -> Int

/// Idle memory per connection is mostly this object: the phase keeps the HTTP parser or the
/// WebSocket machine inline, never both (570 bytes when both were stored; 392 since the split).
@Test func theConnectionObjectStaysSmall() {
    var config = ServerConfiguration()
    config.loopCount = 1
    let server = Server(configuration: config)
    defer { server.shutdown(timeout: 0) }
    let c = Connection(fd: -1, id: 1, remoteAddress: "127.0.0.1", loop: server.loops[0], server: server)
    #expect(MemoryLayout<Connection.Phase>.size <= 208)
    #expect(mallocUsableSize(Unmanaged.passUnretained(c).toOpaque()) <= 400)
}
