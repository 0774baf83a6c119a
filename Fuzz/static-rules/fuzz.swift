// libFuzzer target for the pure static-file rules in Sources/HTTPCodec/StaticFileRules.swift.
// The input is used as a request path, an HTTP date, an If-None-Match and an Accept-Encoding
// value; the first 8 bytes also give a timestamp for the date formatter.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)

    // A served path must stay under the web root whatever the encoding tricks.
    // Checks are on bytes: String.hasPrefix compares grapheme clusters, so "." followed by a
    // combining mark would not "start with" "." (the first crash this target found).
    if let parts = StaticPath.components(ofRequestPath: text) {
        precondition(text.utf8.first == 0x2F, "accepted a path without leading slash")
        for part in parts {
            precondition(!part.isEmpty, "empty component")
            precondition(part.utf8.first != 0x2E, "dot segment or hidden file accepted: \(parts)")
            precondition(!part.utf8.contains(where: { $0 == 0x2F || $0 == 0x5C || $0 < 0x20 || $0 == 0x7F }),
                         "separator or control character in component: \(parts)")
        }
    }

    // Whatever parses must format back to the same text (the day name is not cross-checked,
    // and second 60 rolls over into the next minute).
    if let seconds = HTTPDate.parse(text) {
        let formatted = HTTPDate.format(seconds)
        let leapSecond = text.utf8.count == 29 && Array(text.utf8)[23...24].elementsEqual("60".utf8)
        precondition(leapSecond || formatted.utf8.dropFirst(3).elementsEqual(text.utf8.dropFirst(3)), "\(text) -> \(seconds) -> \(formatted)")
        precondition(HTTPDate.parse(formatted) == seconds, "formatted date does not parse back")
    }
    if size >= 8 {
        let raw = bytes[0..<8].reduce(0) { $0 << 8 | Int($1) }
        // Years 0000...9999, the range a 4-digit IMF-fixdate can express.
        let span = 253_402_300_800 + 62_167_219_200
        let seconds = (raw % span + span) % span - 62_167_219_200
        precondition(HTTPDate.parse(HTTPDate.format(seconds)) == seconds, "round trip failed for \(seconds)")
    }

    _ = ConditionalRequest.entityTags(text)
    let headers = HTTPHeaders([("If-None-Match", text), ("Accept-Encoding", text), ("If-Modified-Since", text)])
    _ = ConditionalRequest.isNotModified(headers: headers, etag: "\"x\"", lastModified: 0)
    _ = AcceptEncoding.acceptsGzip(headers)
    if let q = AcceptEncoding.qValue(Substring(text)) { precondition(q >= 0 && q <= 1, "q out of range") }
    return 0
}
