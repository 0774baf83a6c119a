import ArgumentParser
import Glibc

@main
struct ClassBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classbench",
        abstract: "WebSocket broadcast fan-out benchmark: N subscribers, one publisher, latency and throughput.",
        discussion: """
        Opens --conns subscriber connections (ramped, bounded handshakes in flight, retried) and one \
        publisher, then publishes --rate broadcasts/s (latency mode) or keeps --window broadcasts in \
        flight (--rate max, throughput mode). Each message carries the marker @@<seq>@@ padded to --size \
        bytes. Prints '# ' summary lines and one JSON line with the same fields as the shared loadgen. \
        Loopback only unless --allow-remote. Exit status: 0 measured, 1 nothing to measure, 2 bad \
        arguments, 3 hard timeout.
        """)

    /// Like ArgumentParser's main, but usage errors exit 2 (as the shared loadgen and
    /// classctl do) instead of 64.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error).rawValue == 64 {
                printError(fullMessage(for: error))
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }

    @Option(help: "Subscriber URL, ws:// or wss://127.0.0.1:PORT/path?query (wss default port 443); repeat it to spread the subscribers round robin (the nodes of a cluster).")
    var subUrl: [String]

    @Option(help: "Publisher URL (default: --sub-url).")
    var pubUrl: String?

    @Option(help: "Subscriber connections.")
    var conns = 1000

    @Option(help: "Message size in bytes after padding.")
    var size = 256

    @Option(help: "Message text: must contain '@@{seq}@@'; optional {pad} marks where padding goes.")
    var pubTemplate = "@@{seq}@@"

    @Option(help: "Broadcasts per second (latency mode), or 'max' (throughput mode).")
    var rate = "10"

    @Option(help: "Broadcasts in flight in throughput mode.")
    var window = 4

    @Option(help: "Load phase length in seconds.")
    var duration = 10.0

    @Flag(help: "Offer permessage-deflate (client_max_window_bits).")
    var deflate = false

    @Option(help: "Server process whose RSS and CPU are reported (the server itself, not a wrapper shell).")
    var serverPid: Int32?

    @Option(help: "New connections per second.")
    var ramp = 5000.0

    @Option(help: "Handshakes in flight (keep below the server's listen backlog).")
    var maxPending = 64

    @Option(help: "Stop connecting after this many seconds and measure with what is open.")
    var connectTimeout = 60.0

    @Option(help: "Idle seconds after connecting, before the idle RSS reading.")
    var settle = 2.0

    @Option(help: "Seconds to wait for late deliveries after the load phase.")
    var drain = 3.0

    @Option(help: "Throughput mode: seconds after which a broadcast stops occupying the window.")
    var bcastTimeout = 5.0

    @Option(help: "Hard overall timeout in seconds (default: connect-timeout + settle + duration + drain + 30).")
    var timeout: Double?

    @Option(help: "Text each subscriber sends once after its handshake (e.g. a join message).")
    var subHello: String?

    @Option(help: "Text the publisher sends once after its handshake (e.g. an instructor's hello with its token).")
    var pubHello: String?

    @Option(help: "Extra handshake header 'Name: value' (repeatable).")
    var header: [String] = []

    @Option(help: "Label copied into the JSON line.")
    var label = ""

    @Option(name: .customLong("tls-ca"),
            help: "PEM CA certificate(s) for wss://: verify the server's chain and host name (default: no verification).")
    var tlsCA: String?

    @Flag(help: "No progress lines on stderr.")
    var quiet = false

    @Flag(help: "Allow non-loopback hosts (by default only 127.0.0.0/8 is accepted).")
    var allowRemote = false

    func validate() throws {
        guard conns >= 1 else { throw ValidationError("--conns must be at least 1") }
        guard (0...(16 << 20)).contains(size) else { throw ValidationError("--size must be between 0 and 16 MiB") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        guard duration > 0, ramp > 0, maxPending >= 1 else {
            throw ValidationError("--duration and --ramp must be positive, --max-pending at least 1")
        }
        guard connectTimeout > 0, settle >= 0, drain >= 0, bcastTimeout > 0 else {
            throw ValidationError("timeouts must be positive (--settle and --drain may be 0)")
        }
        if rate != "max" {
            guard let r = Double(rate), r > 0, r.isFinite else { throw ValidationError("--rate must be a positive number or 'max'") }
        }
        for h in header where !h.contains(":") || h.contains("\r") || h.contains("\n") {
            throw ValidationError("--header must look like 'Name: value' on one line, got '\(h)'")
        }
    }

    func makeConfig() throws -> BenchConfig {
        let subscriber: Endpoint
        var more: [Endpoint] = []
        let publisher: Endpoint
        let template: MessageTemplate
        do {
            guard let first = subUrl.first else { throw ValidationError("--sub-url is required") }
            subscriber = try Endpoint(first, allowRemote: allowRemote)
            more = try subUrl.dropFirst().map { try Endpoint($0, allowRemote: allowRemote) }
            publisher = try Endpoint(pubUrl ?? first, allowRemote: allowRemote)
            template = try MessageTemplate(pubTemplate, size: size)
        } catch {
            throw ValidationError("\(error)")
        }
        if tlsCA != nil && !subscriber.isSecure && !publisher.isSecure {
            throw ValidationError("--tls-ca needs a wss:// URL")
        }
        var config = BenchConfig(
            subscriberURL: subUrl.joined(separator: ","), publisherURL: pubUrl ?? subUrl[0], subscriber: subscriber, publisher: publisher,
            connections: conns, template: template, rate: rate == "max" ? nil : Double(rate), window: window,
            duration: duration, deflate: deflate, serverPID: serverPid, ramp: ramp, maxPending: maxPending,
            connectTimeout: connectTimeout, settle: settle, drain: drain, broadcastTimeout: bcastTimeout,
            hardTimeout: timeout ?? (connectTimeout + settle + duration + drain + 30),
            subscriberHello: subHello, publisherHello: pubHello, extraHeaders: header, label: label, quiet: quiet,
            tlsCAFile: tlsCA)
        config.moreSubscribers = more
        return config
    }

    func run() throws {
        let config = try makeConfig()
        armHardTimeout(seconds: config.hardTimeout)
        signal(SIGPIPE, SIG_IGN)
        do {
            try raiseFileLimit(to: config.connections + 64)
            let generator = try LoadGenerator(config: config)
            let result = try generator.run()
            for line in result.summaryLines { print(line) }
            print(result.jsonLine)
            fflush(nil)
            generator.closeAll()
            // Exit status 1 when nothing could be measured, as the shared loadgen does.
            if (!result.counters.publisherOpen && result.broadcasts == 0) || result.subscribersOpen == 0 {
                throw ExitCode(1)
            }
        } catch let error as SystemError {
            printError("classbench: \(error)")
            throw ExitCode(1)
        } catch let error as TLSClientError {
            // An unusable --tls-ca file is a bad argument.
            printError("classbench: \(error)")
            throw ExitCode(2)
        }
    }
}

/// Ends the process with exit status 3 and a JSON error line once `seconds` have
/// passed, whatever the event loop is doing. The handler only calls
/// async-signal-safe functions.
func armHardTimeout(seconds: Double) {
    signal(SIGALRM) { _ in
        let message: StaticString = "{\"tool\":\"classbench\",\"error\":\"hard timeout\"}\n"
        _ = write(1, message.utf8Start, message.utf8CodeUnitCount)
        _exit(3)
    }
    alarm(UInt32(min(max(seconds.rounded(.up), 1), Double(UInt32.max))))
}
