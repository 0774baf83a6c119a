// libFuzzer target for HTTPRequestParser. Compiled into the same module as
// Sources/HTTPCodec (see build.conf), so internal API is visible without an import.
//
// Input layout: byte 0 seeds the chunking, the rest is the byte stream a client sends.
// The stream is parsed twice, in one piece and in pseudo-random chunks; both must give the
// same requests and the same final error, and every result must respect the limits.

/// Small limits so the fuzzer reaches every limit branch with short inputs.
private let fuzzLimits: HTTPLimits = {
    var l = HTTPLimits()
    l.maxRequestLineBytes = 64
    l.maxHeaderBytes = 200
    l.maxHeaderCount = 6
    l.maxBodyBytes = 32
    return l
}()

private enum Outcome: Equatable {
    case request(HTTPRequest)
    case error(HTTPParseError)
}

/// Calls `next()` until it needs more data or fails; checks the per-result invariants.
/// Returns false once the parser has failed.
private func drain(_ parser: inout HTTPRequestParser, into outcomes: inout [Outcome]) -> Bool {
    while true {
        switch parser.next() {
        case .request(let request):
            checkRequest(request)
            outcomes.append(.request(request))
        case .needMoreData:
            let pending = parser.pendingByteCount
            let bound = max(fuzzLimits.maxRequestLineBytes + 1, fuzzLimits.maxHeaderBytes + 1, fuzzLimits.maxBodyBytes)
            precondition(pending <= bound, "parser holds \(pending) unconsumed bytes, bound is \(bound)")
            precondition(pending > 0 || parser.bufferCapacity == 0, "empty parser still holds buffer storage")
            return true
        case .error(let error):
            precondition([400, 413, 414, 431, 501, 505].contains(error.status), "unexpected status \(error.status)")
            precondition(parser.next() == .error(error), "error is not sticky")
            precondition(!parser.hasPartialRequest, "failed parser reports a partial request")
            outcomes.append(.error(error))
            return false
        }
    }
}

private func checkRequest(_ r: HTTPRequest) {
    precondition(!r.method.isEmpty && !r.target.isEmpty, "empty method or target")
    precondition(r.method.utf8.count + r.target.utf8.count + 10 <= fuzzLimits.maxRequestLineBytes, "request line over limit")
    precondition(r.headers.count <= fuzzLimits.maxHeaderCount, "too many headers accepted")
    precondition(r.body.count <= fuzzLimits.maxBodyBytes, "body over limit")
    precondition(!r.headers.contains("Transfer-Encoding"), "Transfer-Encoding accepted")
    let hosts = r.headers.values("Host").count
    precondition(hosts <= 1 && (r.version == .http1_0 || hosts == 1), "Host rule violated")
    for (name, value) in r.headers {
        precondition(!name.isEmpty && !name.utf8.contains(where: { $0 <= 0x20 || $0 == 0x3A }), "bad header name accepted")
        precondition(!value.utf8.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }), "control character in value")
    }
    if let cl = r.headers["Content-Length"] {
        precondition(HTTPRequestParser.parseContentLength(Substring(cl.split(separator: ",").first ?? "").trimmingOWS()) == r.body.count,
                     "body length differs from Content-Length")
    } else {
        precondition(r.body.isEmpty, "body without Content-Length")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))

    var whole = HTTPRequestParser(limits: fuzzLimits)
    var wholeOutcomes: [Outcome] = []
    whole.append(bytes)
    _ = drain(&whole, into: &wholeOutcomes)

    // xorshift32 seeded from byte 0: chunk sizes from 1 to 16 bytes, reproducible per input.
    var rng = UInt32(data[0]) &* 2_654_435_761 | 1
    var chunked = HTTPRequestParser(limits: fuzzLimits)
    var chunkedOutcomes: [Outcome] = []
    var offset = 0
    while offset < bytes.count {
        rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5
        let n = min(Int(rng % 16) + 1, bytes.count - offset)
        bytes[offset..<(offset + n)].withUnsafeBytes { chunked.append($0) }
        offset += n
        if !drain(&chunked, into: &chunkedOutcomes) { break }
    }

    precondition(wholeOutcomes == chunkedOutcomes, "chunking changed the result: \(wholeOutcomes) vs \(chunkedOutcomes)")
    precondition(whole.hasPartialRequest == chunked.hasPartialRequest, "chunking changed hasPartialRequest")
    return 0
}
