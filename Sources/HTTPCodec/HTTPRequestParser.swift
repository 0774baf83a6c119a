// Incremental HTTP/1.1 request parser (RFC 9112). Pure: the server appends whatever it
// read from the socket and calls `next()` until it returns `.needMoreData`.
//
// Design notes:
// - Lines are handled one at a time as soon as their LF arrives, so the head is never
//   re-scanned, and the LF search resumes where the previous one stopped (`scanFrom`):
//   a client sending one byte at a time costs O(n), not O(n^2).
// - Limits are checked on partial lines too, so the buffer never grows much past
//   the limits however the bytes are sliced.
// - Once the buffer is fully consumed its storage is released: thousands of idle
//   keep-alive connections must not each pin a heap buffer.

/// Size limits for one request. Exceeding one produces the status in the comment.
public struct HTTPLimits: Sendable {
    public var maxRequestLineBytes = 8 * 1024   // longer -> 414
    public var maxHeaderBytes = 16 * 1024       // all header lines -> 431
    public var maxHeaderCount = 100             // -> 431
    public var maxBodyBytes = 64 * 1024         // Content-Length larger -> 413
    public init() {}
}

/// Why a request was refused; `status` and `message` are meant to be sent back as is
/// (after which the server closes the connection: the framing can no longer be trusted).
public struct HTTPParseError: Error, Sendable, Equatable {
    public var status: Int        // 400, 413, 414, 431, 501, 505
    public var message: String    // short human text used as the response body

    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }

    static func bad(_ message: String) -> HTTPParseError { HTTPParseError(status: 400, message: message) }
}

public enum HTTPParseResult: Sendable, Equatable {
    case request(HTTPRequest)
    case needMoreData
    case error(HTTPParseError)
}

public struct HTTPRequestParser: Sendable {
    public let limits: HTTPLimits

    /// RFC 9112 §2.2 asks servers to ignore at least one empty line before a request-line;
    /// a few are tolerated, an endless stream of them is not.
    static let maxLeadingEmptyLines = 16

    private enum State: Sendable {
        case requestLine
        case headers
        case body(length: Int)
    }

    /// The request head collected so far.
    private struct Head: Sendable {
        var method: String
        var target: String
        var version: HTTPVersion
        var headers = HTTPHeaders()
        var headerBytes = 0     // raw bytes of the header lines, terminators included
    }

    private var buffer: [UInt8] = []
    private var start = 0               // first unconsumed byte of `buffer`
    private var scanFrom = 0            // where the next LF search resumes (>= start)
    private var state = State.requestLine
    /// Head of the request being parsed (meaningful in `.headers` and `.body`). Kept outside
    /// `state` so adding a field mutates the headers array in place instead of copying it.
    private var head = Head(method: "", target: "", version: .http1_1)
    private var emptyLinesSkipped = 0
    private var failure: HTTPParseError?

    public init(limits: HTTPLimits = HTTPLimits()) {
        self.limits = limits
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil else { return }  // nothing more will be parsed: don't grow
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        guard failure == nil else { return }
        buffer.append(contentsOf: bytes)
    }

    /// Next complete request from the buffered bytes (call repeatedly: pipelining), `.needMoreData`,
    /// or `.error` (sticky: once an error is returned every later call returns it again).
    public mutating func next() -> HTTPParseResult {
        if let failure { return .error(failure) }
        let result = parse()
        switch result {
        case .error(let error):
            failure = error
            releaseBuffer()
        case .needMoreData:
            compact()
        case .request:
            if start == buffer.count { releaseBuffer() }
        }
        return result
    }

    /// Bytes buffered but not yet consumed (e.g. the first WebSocket frames after an Upgrade
    /// request); empties the buffer. Meant to be called right after `next()` returned a request;
    /// the parser then starts over expecting a new request-line.
    public mutating func takeBuffered() -> [UInt8] {
        let rest = start < buffer.count ? Array(buffer[start...]) : []
        releaseBuffer()
        state = .requestLine
        head = Head(method: "", target: "", version: .http1_1)
        emptyLinesSkipped = 0
        return rest
    }

    /// Whether part of a request has arrived (used by the server for the 10 s header-completion timeout).
    public var hasPartialRequest: Bool {
        if failure != nil { return false }
        if case .requestLine = state { return start < buffer.count || emptyLinesSkipped > 0 }
        return true
    }

    /// Capacity of the internal buffer, so tests can check that an idle parser holds no storage.
    var bufferCapacity: Int { buffer.capacity }
    /// Bytes received but not yet consumed (tests and fuzzing check it stays bounded).
    var pendingByteCount: Int { buffer.count - start }

    // MARK: - Buffer management

    private mutating func releaseBuffer() {
        buffer = []
        start = 0
        scanFrom = 0
    }

    /// Drops consumed bytes. Called only when waiting for more data, so each consumed line
    /// or request causes at most one move of the (limit-bounded) remainder.
    private mutating func compact() {
        guard start > 0 else { return }
        if start == buffer.count {
            releaseBuffer()
        } else {
            buffer.removeSubrange(0..<start)
            scanFrom -= start
            start = 0
        }
    }

    /// Index of the next LF at or after `scanFrom`, remembering how far the search got.
    private mutating func findLineFeed() -> Int? {
        var i = scanFrom
        let end = buffer.count
        while i < end {
            if buffer[i] == ASCII.lf { return i }
            i &+= 1
        }
        scanFrom = end
        return nil
    }

    // MARK: - State machine

    private mutating func parse() -> HTTPParseResult {
        while true {
            switch state {
            case .requestLine:
                guard let lf = findLineFeed() else {
                    // The +1 leaves room for the CR of a line that is exactly at the limit.
                    if buffer.count - start > limits.maxRequestLineBytes + 1 { return .error(Self.uriTooLong) }
                    return .needMoreData
                }
                let (line, hasBareCR) = takeLine(endingAt: lf)
                // Length first: the status must not depend on whether the LF came in the same read.
                if line.count > limits.maxRequestLineBytes { return .error(Self.uriTooLong) }
                if hasBareCR { return .error(.bad("bare CR in request line")) }
                if line.isEmpty {
                    emptyLinesSkipped += 1
                    if emptyLinesSkipped > Self.maxLeadingEmptyLines {
                        return .error(.bad("too many empty lines before the request line"))
                    }
                    continue
                }
                switch Self.parseRequestLine(line) {
                case .success(let parsed):
                    head = parsed
                    state = .headers
                case .failure(let error): return .error(error)
                }

            case .headers:
                guard let lf = findLineFeed() else {
                    // +1: the CR of the final empty line is not counted once its LF arrives.
                    if head.headerBytes + (buffer.count - start) > limits.maxHeaderBytes + 1 {
                        return .error(Self.headersTooLarge)
                    }
                    return .needMoreData
                }
                let rawLength = lf + 1 - start
                let (line, hasBareCR) = takeLine(endingAt: lf)
                if line.isEmpty {
                    switch framing(of: head) {
                    case .success(let length): state = .body(length: length)
                    case .failure(let error): return .error(error)
                    }
                    continue
                }
                head.headerBytes += rawLength
                if head.headerBytes > limits.maxHeaderBytes { return .error(Self.headersTooLarge) }
                if hasBareCR { return .error(.bad("bare CR in header section")) }
                if head.headers.count >= limits.maxHeaderCount {
                    return .error(HTTPParseError(status: 431, message: "too many header fields"))
                }
                switch Self.parseHeaderLine(line) {
                case .success(let field): head.headers.add(field.name, field.value)
                case .failure(let error): return .error(error)
                }

            case .body(let length):
                guard buffer.count - start >= length else { return .needMoreData }
                let body = length == 0 ? [] : Array(buffer[start..<(start + length)])
                start += length
                scanFrom = start
                state = .requestLine
                emptyLinesSkipped = 0
                let request = HTTPRequest(method: head.method, target: head.target, version: head.version,
                                          headers: head.headers, body: body)
                head = Head(method: "", target: "", version: .http1_1)
                return .request(request)
            }
        }
    }

    /// Consumes the line ending at the LF at `lf` and returns its content without CRLF/LF,
    /// and whether it contains a CR that is not part of the line terminator.
    private mutating func takeLine(endingAt lf: Int) -> (line: ArraySlice<UInt8>, hasBareCR: Bool) {
        var end = lf
        if end > start && buffer[end - 1] == ASCII.cr { end -= 1 }
        let line = buffer[start..<end]
        start = lf + 1
        scanFrom = start
        return (line, line.contains(ASCII.cr))
    }

    private static let uriTooLong = HTTPParseError(status: 414, message: "request line too long")
    private static let headersTooLarge = HTTPParseError(status: 431, message: "header section too large")

    // MARK: - Line grammar

    /// `method SP request-target SP HTTP-version` (RFC 9112 §3).
    private static func parseRequestLine(_ line: ArraySlice<UInt8>) -> Result<Head, HTTPParseError> {
        guard let sp1 = line.firstIndex(of: ASCII.space),
              let sp2 = line[(sp1 + 1)...].firstIndex(of: ASCII.space) else {
            return .failure(.bad("malformed request line"))
        }
        let method = line[..<sp1]
        let target = line[(sp1 + 1)..<sp2]
        let versionText = line[(sp2 + 1)...]

        guard !method.isEmpty, method.allSatisfy(ASCII.isTokenChar) else {
            return .failure(.bad("invalid method"))
        }
        let version: HTTPVersion
        switch parseVersion(versionText) {
        case .success(let v): version = v
        case .failure(let error): return .failure(error)
        }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(.bad("invalid request target"))
        }
        let methodString = String(decoding: method, as: UTF8.self)
        let targetString = String(decoding: target, as: UTF8.self)
        if methodString == "CONNECT" {
            return .failure(HTTPParseError(status: 501, message: "CONNECT is not supported"))
        }
        if target.first == ASCII.slash {
            // origin-form
        } else if targetString == "*" {
            guard methodString == "OPTIONS" else { return .failure(.bad("asterisk-form is only allowed for OPTIONS")) }
        } else if !isAbsoluteForm(target) {
            return .failure(.bad("invalid request target"))
        }
        return .success(Head(method: methodString, target: targetString, version: version))
    }

    /// `HTTP/DIGIT.DIGIT`: 1.0 and 1.1 are served, any other well-formed version gets 505.
    private static func parseVersion(_ text: ArraySlice<UInt8>) -> Result<HTTPVersion, HTTPParseError> {
        let bytes = Array(text)
        guard bytes.count == 8, bytes[0..<5].elementsEqual("HTTP/".utf8),
              ASCII.isDigit(bytes[5]), bytes[6] == ASCII.dot, ASCII.isDigit(bytes[7]) else {
            return .failure(.bad("malformed HTTP version"))
        }
        switch (bytes[5], bytes[7]) {
        case (ASCII.one, ASCII.zero): return .success(.http1_0)
        case (ASCII.one, ASCII.one): return .success(.http1_1)
        default: return .failure(HTTPParseError(status: 505, message: "HTTP version not supported"))
        }
    }

    /// absolute-form as sent to proxies: `scheme "://" ...` (RFC 9112 §3.2.2).
    private static func isAbsoluteForm(_ target: ArraySlice<UInt8>) -> Bool {
        guard let first = target.first, ASCII.isAlpha(first),
              let colon = target.firstIndex(of: ASCII.colon) else { return false }
        let scheme = target[..<colon]
        let schemeOK = scheme.allSatisfy { ASCII.isAlpha($0) || ASCII.isDigit($0) || $0 == 0x2B || $0 == 0x2D || $0 == ASCII.dot }
        return schemeOK && target[colon...].starts(with: "://".utf8)
    }

    /// `field-name ":" OWS field-value OWS` (RFC 9112 §5).
    private static func parseHeaderLine(_ line: ArraySlice<UInt8>) -> Result<(name: String, value: String), HTTPParseError> {
        guard let first = line.first, first != ASCII.space, first != ASCII.tab else {
            return .failure(.bad("obsolete line folding is not allowed"))
        }
        guard let colon = line.firstIndex(of: ASCII.colon) else {
            return .failure(.bad("header line without colon"))
        }
        let name = line[..<colon]
        guard !name.isEmpty, name.allSatisfy(ASCII.isTokenChar) else {
            return .failure(.bad("invalid header field name"))
        }
        var value = line[(colon + 1)...]
        while let b = value.first, b == ASCII.space || b == ASCII.tab { value = value.dropFirst() }
        while let b = value.last, b == ASCII.space || b == ASCII.tab { value = value.dropLast() }
        // field-vchar / SP / HTAB; obs-text (0x80-0xFF) is tolerated, every other CTL is not.
        guard value.allSatisfy({ $0 == ASCII.tab || ($0 >= 0x20 && $0 != 0x7F) }) else {
            return .failure(.bad("invalid character in header field value"))
        }
        return .success((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
    }

    // MARK: - Message framing

    /// Checks Host and the body framing headers once the head is complete; returns the body length.
    private func framing(of head: Head) -> Result<Int, HTTPParseError> {
        let hosts = head.headers.values("Host")
        if hosts.count > 1 { return .failure(.bad("more than one Host header")) }
        if head.version == .http1_1 && hosts.isEmpty { return .failure(.bad("missing Host header")) }

        let lengths = head.headers.values("Content-Length")
        if head.headers.contains("Transfer-Encoding") {
            // Both present is the classic request-smuggling vector (RFC 9112 §6.3).
            if !lengths.isEmpty { return .failure(.bad("both Transfer-Encoding and Content-Length")) }
            if head.version == .http1_0 { return .failure(.bad("Transfer-Encoding in an HTTP/1.0 request")) }
            return .failure(HTTPParseError(status: 501, message: "chunked request bodies are not supported"))
        }
        guard !lengths.isEmpty else { return .success(0) }

        var length: Int?
        for element in lengths.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false) }) {
            guard let n = Self.parseContentLength(element.trimmingOWS()) else {
                return .failure(.bad("invalid Content-Length"))
            }
            if let length, length != n { return .failure(.bad("conflicting Content-Length values")) }
            length = n
        }
        let n = length ?? 0
        if n > limits.maxBodyBytes { return .failure(HTTPParseError(status: 413, message: "request body too large")) }
        return .success(n)
    }

    /// `1*DIGIT`; values beyond Int saturate to Int.max (they are over any limit anyway).
    static func parseContentLength(_ text: Substring) -> Int? {
        guard !text.isEmpty else { return nil }
        var value = 0
        for b in text.utf8 {
            guard ASCII.isDigit(b) else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(b - ASCII.zero))
            value = (o1 || o2) ? Int.max : sum
        }
        return value
    }
}

/// Byte constants and character classes of the HTTP grammar.
enum ASCII {
    static let tab: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let dot: UInt8 = 0x2E
    static let slash: UInt8 = 0x2F
    static let zero: UInt8 = 0x30
    static let one: UInt8 = 0x31
    static let colon: UInt8 = 0x3A

    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    static func isAlpha(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }

    /// tchar (RFC 9110 §5.6.2).
    static func isTokenChar(_ b: UInt8) -> Bool {
        if isDigit(b) || isAlpha(b) { return true }
        switch b {
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }
}
