// Thin POSIX socket helpers. Everything here is synchronous and non-blocking; the
// event loops decide when to call it.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

public struct SocketError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var errno: Int32
    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}

enum Socket {
    /// Ignore SIGPIPE process-wide: a peer that vanished must produce EPIPE, not kill us.
    /// (send uses MSG_NOSIGNAL too; this covers any other write path.)
    static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Resolves `host` (numeric IPv4/IPv6 or a name) and binds a listening socket.
    /// Port 0 lets the kernel pick; the chosen port is returned.
    static func listen(host: String, port: Int, backlog: Int32 = 1024) throws -> (fd: Int32, port: Int, family: Int32) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var res: UnsafeMutablePointer<addrinfo>?
        let hostArg: String? = (host.isEmpty || host == "*") ? nil : host
        let rc = getaddrinfo(hostArg, String(port), &hints, &res)
        guard rc == 0, let first = res else {
            throw SocketError(operation: "resolve \(host): \(String(cString: gai_strerror(rc)))", errno: 0)
        }
        defer { freeaddrinfo(res) }
        var lastError: SocketError?
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            defer { ai = a.pointee.ai_next }
            let fd = socket(a.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { lastError = SocketError(operation: "socket", errno: errno); continue }
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if a.pointee.ai_family == AF_INET6 && hostArg == nil {
                // "*": accept IPv4 too on the IPv6 socket.
                var zero: Int32 = 0
                _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<Int32>.size))
            }
            if bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) != 0 {
                lastError = SocketError(operation: "bind \(host):\(port)", errno: errno); close(fd); continue
            }
            if Glibc.listen(fd, backlog) != 0 {
                lastError = SocketError(operation: "listen", errno: errno); close(fd); continue
            }
            setNonBlocking(fd)
            return (fd, localPort(fd), a.pointee.ai_family)
        }
        throw lastError ?? SocketError(operation: "bind \(host):\(port)", errno: EADDRNOTAVAIL)
    }

    static func localPort(_ fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard ok == 0 else { return 0 }
        return port(of: storage)
    }

    static func port(of storage: sockaddr_storage) -> Int {
        var s = storage
        switch Int32(s.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &s) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) } }
        case AF_INET6:
            return withUnsafePointer(to: &s) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) } }
        default: return 0
        }
    }

    /// Numeric address text of a peer, for logs.
    static func addressText(_ storage: sockaddr_storage) -> String {
        var s = storage
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(s.ss_family) {
        case AF_INET:
            withUnsafePointer(to: &s) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
                var a = p.pointee.sin_addr; _ = inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count)) } }
        case AF_INET6:
            withUnsafePointer(to: &s) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                var a = p.pointee.sin6_addr; _ = inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count)) } }
        default: return "?"
        }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Monotonic milliseconds, for timeouts and rates (never goes backwards, unlike wall time).
@inline(__always) public func monotonicMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// Wall-clock milliseconds since the Unix epoch: the "server time" clients sync to.
@inline(__always) public func wallClockMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

// MARK: Outbound connections (clients on a loop, e.g. the Redis client)

/// A resolved address to connect to.
public struct SocketAddress: Sendable, CustomStringConvertible {
    /// The `sockaddr` bytes (an `sockaddr_in` or `sockaddr_in6`).
    let bytes: [UInt8]
    public let family: Int32
    /// "127.0.0.1:6379", "[::1]:6379".
    public let description: String
}

/// Resolution and non-blocking connect for clients. The caller watches the descriptor with
/// `EventLoop.watch` and, when a connect is in progress, waits for writability and reads
/// `pendingError` (the usual EINPROGRESS dance: nothing here blocks but `resolve`).
public enum ClientSocket {
    /// The host's TCP addresses, in getaddrinfo's order. Numeric hosts never touch DNS; names
    /// may (it blocks, so resolve names off the loop).
    public static func resolve(host: String, port: Int) throws(SocketError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &res)
        guard rc == 0, let first = res else {
            throw SocketError(operation: "resolve \(host): \(String(cString: gai_strerror(rc)))", errno: 0)
        }
        defer { freeaddrinfo(res) }
        var out: [SocketAddress] = []
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            ai = a.pointee.ai_next
            guard let sa = a.pointee.ai_addr, a.pointee.ai_family == AF_INET || a.pointee.ai_family == AF_INET6 else { continue }
            let bytes = Array(UnsafeRawBufferPointer(start: sa, count: Int(a.pointee.ai_addrlen)))
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: sa, count: Int(a.pointee.ai_addrlen))) }
            let text = Socket.addressText(storage)
            let shown = a.pointee.ai_family == AF_INET6 ? "[\(text)]:\(port)" : "\(text):\(port)"
            out.append(SocketAddress(bytes: bytes, family: a.pointee.ai_family, description: shown))
        }
        guard !out.isEmpty else { throw SocketError(operation: "resolve \(host): no IPv4 or IPv6 address", errno: 0) }
        return out
    }

    /// A non-blocking, close-on-exec TCP socket (TCP_NODELAY) and `connect()`. `inProgress`:
    /// wait until the socket is writable, then check `pendingError`. Throws when the connect
    /// fails at once (the socket is closed then).
    public static func connect(to address: SocketAddress) throws(SocketError) -> (fd: Int32, inProgress: Bool) {
        _ = Socket.ignoreSIGPIPE
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SocketError(operation: "socket", errno: errno) }
        Socket.setNoDelay(fd)
        let rc = address.bytes.withUnsafeBytes {
            Glibc.connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
        }
        if rc == 0 { return (fd, false) }
        let code = errno
        if code == EINPROGRESS || code == EINTR { return (fd, true) }
        close(fd)
        throw SocketError(operation: "connect \(address)", errno: code)
    }

    /// SO_ERROR of a socket whose connect was in progress: 0 once it is connected.
    public static func pendingError(_ fd: Int32) -> Int32 {
        var code: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &len) == 0 else { return errno }
        return code
    }
}
