// The WebSocket side of one phone or console: decodes its messages, answers clock-sync
// requests on the spot, rate-limits, and hands everything else to its ClassSession.
import NetServer
import WebSocketCodec

/// Where a socket's messages go: the class itself (one node), or its relay on this node (a cluster).
protocol ClassSocketTarget: AnyObject, Sendable {
    func join(_ c: Connection, address: String)
    func leave(_ c: Connection)
    /// `raw`: the message as the phone sent it (a relay forwards it as is).
    func receive(_ message: ClientMessage, raw: [UInt8], from c: Connection)
}

extension ClassSession: ClassSocketTarget {
    func join(_ c: Connection, address: String) { join(c as any ClassMember, address: address) }
    func receive(_ message: ClientMessage, raw: [UInt8], from c: Connection) { receive(message, from: c) }
}

/// Confined to the connection's loop queue (NetServer calls delegates only there).
final class ClassSocket: WebSocketDelegate {
    let session: any ClassSocketTarget
    /// The client's address (behind trusted proxies, the forwarded one), fixed at the upgrade.
    let address: String
    // Token bucket (ClassLimits): a sustained rate and a burst.
    private var tokens = ClassLimits.messageBurst
    private var lastRefill = monotonicMillis()

    init(session: any ClassSocketTarget, address: String) {
        self.session = session
        self.address = address
    }

    func webSocketDidOpen(_ c: Connection) { session.join(c, address: address) }
    func webSocketDidClose(_ c: Connection) { session.leave(c) }

    func webSocket(_ c: Connection, didReceiveBinary data: [UInt8]) {
        c.close(code: WebSocketCloseCode.unsupportedData, reason: "binary messages are not supported")
    }

    func webSocket(_ c: Connection, didReceiveText text: [UInt8]) {
        let received = wallClockMillis()
        let now = monotonicMillis()
        tokens = min(ClassLimits.messageBurst, tokens + Double(now - lastRefill) / 1000 * ClassLimits.messagesPerSecond)
        lastRefill = now
        tokens -= 1
        if tokens < 0 {
            c.close(code: WebSocketCloseCode.policyViolation, reason: "too many messages")
            return
        }
        switch ClientMessage.decode(text) {
        case .failure(let e):
            c.send(text: ServerMessage.error(e.code, e.message))
        case .success(.time(let id, let t0)):
            // Answered here, on the socket's loop, so queueing elsewhere can't skew it.
            c.send(text: ServerMessage.time(id: id, t0: t0, t1: received, t2: wallClockMillis()))
        case .success(let message):
            session.receive(message, raw: text, from: c)
        }
    }
}

