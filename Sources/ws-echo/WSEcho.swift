// ws-echo: a WebSocket echo (or broadcast relay) server on classctl's network core, for
// conformance runs (Autobahn) and the fan-out benchmark.
import ArgumentParser
import Dispatch
import Foundation
import Logging
import NetServer
import WebSocketCodec
import TLS

/// Echoes every message back to its sender. Confined to its connection's loop.
final class EchoDelegate: WebSocketDelegate {
    func webSocket(_ c: Connection, didReceiveText text: [UInt8]) { c.send(text: text) }
    func webSocket(_ c: Connection, didReceiveBinary data: [UInt8]) { c.send(binary: data) }
}

/// Relays every text message to all connected clients, the sender included.
final class RelayDelegate: WebSocketDelegate {
    let group: BroadcastGroup
    init(group: BroadcastGroup) { self.group = group }
    func webSocketDidOpen(_ c: Connection) { group.add(c) }
    func webSocket(_ c: Connection, didReceiveText text: [UInt8]) { group.broadcast(text: text) }
    func webSocket(_ c: Connection, didReceiveBinary data: [UInt8]) {}
}

@main
struct WSEcho: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ws-echo",
        abstract: "WebSocket echo / broadcast server on classctl's network core (for Autobahn and benchmarks).")

    @Option(help: "Address to listen on (IPv4 or IPv6; '*' for all).") var host = "127.0.0.1"
    @Option(help: "Port to listen on; 0 picks a free one (printed).") var port = 9001
    @Flag(help: "Relay every text message to all connected clients instead of echoing it.") var broadcast = false
    @Option(help: "Event loops (serial queues).") var loops = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4))
    @Option(help: "Largest message accepted, in bytes (Autobahn sends 16 MiB).") var maxMessageBytes = 32 << 20
    @Option(help: "Bytes queued per connection before it is dropped as too slow.") var maxOutboundBytes = 64 << 20
    @Flag(help: "Disable permessage-deflate.") var noDeflate = false
    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).") var logLevel = "info"
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: serve wss:// instead of ws://.") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert.") var tlsKey: String?

    func run() throws {
        var logger = Logger(label: "ws-echo")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var config = ServerConfiguration()
        config.host = host
        config.port = port
        config.loopCount = loops
        config.logger = logger
        config.webSocketLimits.maxMessageBytes = maxMessageBytes
        config.maxOutboundBytes = maxOutboundBytes
        config.handshake = WebSocketHandshakeConfig(allowedOrigins: ["*"], enableDeflate: !noDeflate)
        if tlsCert != nil || tlsKey != nil {
            guard let cert = tlsCert, let key = tlsKey else {
                FileHandle.standardError.write(Data("ws-echo: --tls-cert and --tls-key go together\n".utf8))
                throw ExitCode(2)
            }
            do { config.tls = try TLSServerContext.load(certificateFile: cert, keyFile: key) } catch {
                FileHandle.standardError.write(Data("ws-echo: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        let holder = GroupHolder()
        let relay = broadcast
        config.webSocketRoute = { _, _ in
            relay ? RelayDelegate(group: holder.group!) as WebSocketDelegate : EchoDelegate()
        }
        let server = Server(configuration: config)
        holder.group = server.makeBroadcastGroup()
        do { try server.start() } catch {
            FileHandle.standardError.write(Data("ws-echo: cannot listen on \(host):\(port): \(error)\n".utf8))
            throw ExitCode(1)
        }
        FileHandle.standardOutput.write(Data("ws-echo listening on \(config.tls == nil ? "ws" : "wss")://\(host.contains(":") ? "[\(host)]" : host):\(server.port)/ (\(broadcast ? "broadcast" : "echo"), \(loops) loop\(loops == 1 ? "" : "s"))\n".utf8))
        waitForTermination { server.shutdown(timeout: 2) }
    }
}

/// Set once before the server starts, read-only afterwards.
final class GroupHolder: @unchecked Sendable { var group: BroadcastGroup? }

/// Blocks until SIGINT or SIGTERM, runs `onSignal`, and exits 0.
func waitForTermination(_ onSignal: @escaping @Sendable () -> Void) -> Never {
    let queue = DispatchQueue(label: "signals")
    var sources: [DispatchSourceSignal] = []
    for sig in [SIGINT, SIGTERM] {
        signal(sig, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
        s.setEventHandler { onSignal(); exit(0) }
        s.resume()
        sources.append(s)
    }
    withExtendedLifetime(sources) { dispatchMain() }
}
