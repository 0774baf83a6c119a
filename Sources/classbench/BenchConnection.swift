import WebSocketCodec

/// Everything the benchmark needs to know about one run.
struct BenchConfig: Sendable {
    var subscriberURL: String
    var publisherURL: String
    var subscriber: Endpoint
    var publisher: Endpoint
    /// More subscriber endpoints (`--sub-url` repeated): subscribers are spread over all of
    /// them round robin, e.g. the nodes of a cluster.
    var moreSubscribers: [Endpoint] = []
    var connections: Int
    var template: MessageTemplate
    /// Broadcasts per second, or nil for throughput mode (a window of broadcasts in flight).
    var rate: Double?
    var window: Int
    var duration: Double
    var deflate: Bool
    var serverPID: Int32?
    var ramp: Double
    var maxPending: Int
    var connectTimeout: Double
    var settle: Double
    var drain: Double
    var broadcastTimeout: Double
    var hardTimeout: Double
    var subscriberHello: String?
    var publisherHello: String? = nil
    var extraHeaders: [String]
    var label: String
    var quiet: Bool
    /// PEM CA file for wss://: verify the server's chain and host name. Without it,
    /// wss:// connections are encrypted but not verified.
    var tlsCAFile: String? = nil

    var isThroughputMode: Bool { rate == nil }

    /// Connection attempts per socket before it is given up, and how long one attempt
    /// (connect + handshake) may take.
    static let maxAttempts = 5
    static let handshakeTimeoutNanos: UInt64 = 10_000_000_000

    /// Where connection `c` goes: the publisher's URL, or its share of the subscriber URLs.
    func endpoint(for c: BenchConnection) -> Endpoint {
        if c.isPublisher { return publisher }
        if moreSubscribers.isEmpty { return subscriber }
        let k = c.index % (moreSubscribers.count + 1)
        return k == 0 ? subscriber : moreSubscribers[k - 1]
    }
}

/// One client socket (a subscriber, or the publisher) and its protocol state.
/// Owned by the single-threaded `LoadGenerator`; never shared across threads.
final class BenchConnection {
    enum State {
        /// Not connected; will be (re)started by the connect phase.
        case idle
        case connecting
        /// wss:// only: TCP is up, the TLS handshake runs.
        case tlsHandshaking
        /// The WebSocket upgrade is sent; waiting for the response head.
        case handshaking
        case open
        /// We sent Close and wait for the server's.
        case closing
        case closed
        /// Gave up after `BenchConfig.maxAttempts`.
        case failed
    }

    /// Index into the generator's connection list; also the epoll token and, for a
    /// subscriber, its bit in the per-broadcast delivery bitmap.
    let index: Int
    let isPublisher: Bool

    var fd: Int32 = -1
    var state = State.idle
    var attempts = 0
    var attemptStartedAt: UInt64 = 0
    var handshake: ClientHandshake?
    /// The TLS session of a wss:// connection (nil for ws://).
    var tls: TLSClientConnection?

    /// The response head received so far (until the handshake completes).
    var headBytes: [UInt8] = []
    /// Frame decoding: the codec's decoder keeps at most a partial header; a payload
    /// that arrives in several reads is gathered in `splitPayload`.
    var decoder = WebSocketFrameDecoder()
    var frameHeader: WebSocketFrameHeader?
    var splitPayload: [UInt8] = []
    /// Payload of a fragmented message being reassembled.
    var fragments: [UInt8] = []
    var fragmentOpcode = WebSocketOpcode.text
    var fragmentCompressed = false
    var inFragmentedMessage = false

    /// Bytes the kernel did not take yet; `outboxSent` of them are already written.
    var outbox: [UInt8] = []
    var outboxSent = 0
    var watchingWritable = false

    var inflater: MessageInflater?
    /// Highest sequence number seen, for the out-of-order count.
    var lastSequence: Int64 = -1

    init(index: Int, isPublisher: Bool) {
        self.index = index
        self.isPublisher = isPublisher
    }

    var isInProgress: Bool { state == .connecting || state == .tlsHandshaking || state == .handshaking }

    /// Forgets per-socket state so the connection can be retried or released.
    func resetBuffers() {
        headBytes = []
        decoder = WebSocketFrameDecoder()
        frameHeader = nil
        splitPayload = []
        fragments = []
        inFragmentedMessage = false
        outbox = []
        outboxSent = 0
        watchingWritable = false
        inflater = nil
        handshake = nil
        tls = nil  // SSL_free; the socket is already closed
    }
}

/// What happened to one broadcast.
struct Broadcast {
    var sentAt: UInt64
    var lastDeliveryAt: UInt64 = 0
    var deliveries: Int = 0
    /// Reached every open subscriber, or gave up waiting (`broadcastTimeout`); either
    /// way it no longer occupies the throughput window.
    var settled = false
}
