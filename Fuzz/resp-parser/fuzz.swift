// libFuzzer target: arbitrary bytes from a "Redis server" through RESPParser, fed whole and in
// chunks. Beyond "no crash", it checks that the replies and the error (kind and offset) do not
// depend on how the input was split, that an error is final, that every reply respects the
// limits, and that encoding the replies and parsing them again gives the same replies.
//
// Input layout: byte 0 = options (bits 0-1: which limits, bits 2-7: chunking seed), the rest is
// the byte stream.

private let limitSets: [RESPLimits] = [
    RESPLimits(maxBulkBytes: 64, maxArrayCount: 8, maxDepth: 4, maxLineBytes: 32),    // small: limit paths are reached
    RESPLimits(maxBulkBytes: 1024, maxArrayCount: 64, maxDepth: 8, maxLineBytes: 256),
    RESPLimits(maxBulkBytes: 0, maxArrayCount: 0, maxDepth: 0, maxLineBytes: 1),      // degenerate
    RESPLimits(),                                                                     // the client's defaults
]

private struct Outcome: Equatable {
    var values: [RESPValue] = []
    var error: RESPError?
}

/// `chunkSeed` nil: the input at once; 0: one byte at a time; else LCG-chosen chunks of 1 to 64 bytes.
private func run(_ input: UnsafeRawBufferPointer, limits: RESPLimits, chunkSeed: UInt64?) -> Outcome {
    var parser = RESPParser(limits: limits)
    var out = Outcome()
    func drain() -> Bool {
        do {
            while let v = try parser.next() { out.values.append(v) }
            return true
        } catch {
            out.error = error
            // An error is final: the same error again, whatever comes next.
            parser.append(contentsOf: [UInt8(ascii: "+"), 13, 10])
            do { _ = try parser.next(); preconditionFailure("parser recovered after an error") } catch let again {
                precondition(again == error, "a different error after the first")
            }
            return false
        }
    }
    guard var seed = chunkSeed else {
        parser.append(input)
        _ = drain()
        return out
    }
    var start = 0
    while start < input.count {
        var size = 1
        if seed != 0 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407   // LCG: deterministic chunk sizes
            size = seed >> 60 == 0 ? 1 : 1 + Int((seed >> 33) % 64)
        }
        let end = min(input.count, start + size)
        parser.append(UnsafeRawBufferPointer(rebasing: input[start..<end]))
        if !drain() { break }
        start = end
    }
    return out
}

/// Checks one reply against the limits; returns its array depth.
private func check(_ v: RESPValue, _ limits: RESPLimits) -> Int {
    switch v {
    case .simpleString(let s), .error(let s):
        precondition(!s.utf8.contains(13) && !s.utf8.contains(10), "CR or LF inside a line")
        return 0
    case .integer:
        return 0
    case .bulkString(let b):
        precondition((b?.count ?? 0) <= limits.maxBulkBytes, "bulk string over the limit")
        return 0
    case .array(nil):
        return 0
    case .array(let items?):
        precondition(items.count <= limits.maxArrayCount, "array over the limit")
        let depth = 1 + (items.map { check($0, limits) }.max() ?? 0)
        precondition(depth <= limits.maxDepth, "arrays nested over the limit")
        return depth
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let options = data[0]
    let input = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let limits = limitSets[Int(options & 3)]

    let whole = run(input, limits: limits, chunkSeed: nil)
    let chunked = run(input, limits: limits, chunkSeed: UInt64(options >> 2) + 1)
    precondition(whole == chunked, "replies depend on how the input was split")
    if input.count <= 512 {
        let bytewise = run(input, limits: limits, chunkSeed: 0)
        precondition(whole == bytewise, "replies depend on how the input was split (small chunks)")
    }
    if let e = whole.error { precondition(e.offset >= 0 && e.offset < input.count, "error offset outside the input") }

    var encoded: [UInt8] = []
    for v in whole.values {
        _ = check(v, limits)
        v.encode(into: &encoded)
    }
    // Re-encoded replies read back as themselves (lines may grow: invalid UTF-8 became U+FFFD).
    var roomy = RESPLimits()
    roomy.maxLineBytes = 1 << 20
    let again = encoded.withUnsafeBytes { run($0, limits: roomy, chunkSeed: nil) }
    precondition(again.error == nil && again.values == whole.values, "encode/parse round trip differs")
    return 0
}
