// Bounds online guessing of the instructor token without ever refusing the right one.
//
// Throttling by address (the first design) let anyone behind the same NAT or reverse proxy
// lock the instructor out. Here a correct token is accepted whatever happened before; wrong
// ones cost the guesser: a connection is closed after a few, and an address (the real client
// behind trusted proxies) that keeps guessing gets one wrong answer per connection, each held
// back by a tarpit delay. docs/protocol.md ("Instructor token") gives the resulting bound.
// Pure: the caller passes the time, so it is tested without clocks or sockets.

struct TokenGuessLimiter {
    struct Config {
        /// Wrong tokens one connection may send; the last is answered, then the connection closes.
        var perConnection = 3
        /// An address with more wrong tokens than this within `windowMs` is "guessing".
        var addressAllowance = 10
        var windowMs: Int64 = 60_000
        /// How long a guessing address waits for each wrong answer (holding its connection).
        var tarpitMs: Int64 = 2_000
        /// Addresses remembered at once; the oldest record is dropped past it.
        var maxAddresses = 4_096
    }

    enum Decision: Equatable {
        case accept
        /// Wrong token: answer `bad-token` after `delayMs`, then close the connection if `close`.
        case refuse(delayMs: Int64, close: Bool)
    }

    private struct Record { var windowStart: Int64; var wrong: Int }

    let config: Config
    private var addresses: [String: Record] = [:]
    /// Wrong tokens since start (for /metrics).
    private(set) var refusals = 0

    init(config: Config = Config()) { self.config = config }

    var rememberedAddresses: Int { addresses.count }

    /// One `hello` with a token. `wrongOnConnection` counts this connection's earlier wrong tokens.
    mutating func attempt(correct: Bool, address: String, wrongOnConnection: Int, now: Int64) -> Decision {
        if correct { return .accept }
        refusals += 1
        var r = addresses[address] ?? Record(windowStart: now, wrong: 0)
        if now - r.windowStart >= config.windowMs { r = Record(windowStart: now, wrong: 0) }
        r.wrong += 1
        if addresses[address] == nil { makeRoom(now: now) }
        addresses[address] = r
        let guessing = r.wrong > config.addressAllowance
        let close = guessing || wrongOnConnection + 1 >= config.perConnection
        return .refuse(delayMs: guessing ? config.tarpitMs : 0, close: close)
    }

    /// Keeps the table bounded: expired records go first, then the oldest one.
    private mutating func makeRoom(now: Int64) {
        guard addresses.count >= config.maxAddresses else { return }
        addresses = addresses.filter { now - $0.value.windowStart < config.windowMs }
        if addresses.count >= config.maxAddresses, let oldest = addresses.min(by: { $0.value.windowStart < $1.value.windowStart }) {
            addresses[oldest.key] = nil
        }
    }
}
