// Every Redis key and channel a cluster uses (docs/cluster.md has the table).
public enum ClusterKeys {
    /// Counter: each node takes its number from it at start-up.
    public static let nodes = "classctl:nodes"
    /// A node's heartbeat (PX 5 s, renewed every tick): its phones are gone when it lapses.
    public static func node(_ n: UInt64) -> String { "classctl:node:\(n)" }
    /// Set of the open classes' codes: any node can serve any of them.
    public static let classes = "classctl:classes"
    /// Channel: "open CODE" / "close CODE", so nodes make (or drop) the class's relay at once;
    /// "release CODE" from a node that stops, so another takes the class at once.
    public static let classEvents = "classctl:classes:events"
    /// `<node>:<fence>` of the node running the class, PX the lease's time.
    public static func lease(_ code: String) -> String { "classctl:class:\(code):lease" }
    /// Counter: one more at every takeover; every write of the class's state checks it.
    public static func fence(_ code: String) -> String { "classctl:class:\(code):fence" }
    /// Stream: the recording (first entry the header line, then one per event; field `line`).
    public static func recording(_ code: String) -> String { "classctl:class:\(code):rec" }
    /// Channel: relays → owner (`RelayUplink`).
    public static func inbound(_ code: String) -> String { "classctl:class:\(code):in" }
    /// Channel: owner → relays (`RelayEnvelope`), one PUBLISH per change.
    public static func outbound(_ code: String) -> String { "classctl:class:\(code):out" }

    static let classPrefix = "classctl:class:"

    /// The code and direction of a class channel: ("K7QP", "in").
    static func parseChannel(_ channel: String) -> (code: String, suffix: String)? {
        guard channel.hasPrefix(classPrefix) else { return nil }
        let rest = channel.dropFirst(classPrefix.count)
        guard let colon = rest.lastIndex(of: ":") else { return nil }
        return (String(rest[..<colon]), String(rest[rest.index(after: colon)...]))
    }
}

/// The Lua scripts: every write that depends on holding the class goes through one of them.
enum ClusterScripts {
    /// KEYS lease, fence; ARGV node, ttl → the new fence, or 0 when the lease is held.
    static let acquire = """
    local f = redis.call('INCR', KEYS[2])
    if redis.call('SET', KEYS[1], ARGV[1] .. ':' .. f, 'NX', 'PX', ARGV[2]) then return f end
    redis.call('DECR', KEYS[2])
    return 0
    """
    /// KEYS lease, fence; ARGV value, ttl, fence → 1 renewed, 2 taken back (it lapsed, e.g.
    /// while Redis was away, and nobody took it since: the fence is still ours), 0 lost.
    static let renew = """
    local v = redis.call('GET', KEYS[1])
    if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
    if not v and redis.call('GET', KEYS[2]) == ARGV[3] then
      redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
      return 2
    end
    return 0
    """
    /// KEYS lease; ARGV value → 1 released, 0 not ours.
    static let release = """
    if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
    return 0
    """
    /// KEYS stream, fence; ARGV fence, line → the entry id, or the error FENCED.
    static let append = """
    if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('FENCED another node runs this class now') end
    return redis.call('XADD', KEYS[1], '*', 'line', ARGV[2])
    """
    /// A new run: KEYS stream, fence; ARGV fence, old-run key, header line.
    static let newRun = """
    if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('FENCED another node runs this class now') end
    if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('RENAME', KEYS[1], ARGV[2]) end
    return redis.call('XADD', KEYS[1], '*', 'line', ARGV[3])
    """
}
