import Testing
@testable import HTTPCodec

// MARK: - StaticPath

@Test(arguments: [
    ("/", [String]()),
    ("/index.html", ["index.html"]),
    ("/css/app.css", ["css", "app.css"]),
    ("/a//b", ["a", "b"]),
    ("/docs/", ["docs"]),
    ("/hello%20world.txt", ["hello world.txt"]),
    ("/caf%C3%A9.html", ["café.html"]),
    ("/a..b/c.d", ["a..b", "c.d"]),
    ("/%7Euser", ["~user"]),
])
func acceptedPaths(_ path: String, _ expected: [String]) {
    #expect(StaticPath.components(ofRequestPath: path) == expected)
}

@Test(arguments: [
    "/..", "/../etc/passwd", "/a/../../etc/passwd", "/a/..", "/./a",
    "/%2e%2e/etc/passwd", "/%2E%2E/x", "/%2E./x", "/.%2e/x", "/a/%2e%2e",
    "/a%2fb", "/a%2F..%2Fb", "/..%2f..%2fetc", "/a%5cb", "/a\\b", "/..\\..\\windows", "/%5c..%5c",
    "/a%00.html", "/index.html%00.png", "/%0a", "/a%7f",
    "/%", "/%2", "/%zz", "/a%g0", "/%%32%65",
    "/%C3", "/%FF%FE", "/%C0%AE%C0%AE/", "/%ED%A0%80",
    "/.git/config", "/.env", "/a/.hidden", "/%2egit",
    // "." followed by a combining mark is one Character, so a String.hasPrefix(".") check
    // would miss it (found by Fuzz/static-rules in the harness's own check).
    "/.%CD%9Aenv", "/.\u{35A}env", "/%2E%CC%81",
    "", "relative/path", "*", "http://evil/x",
])
func refusedPaths(_ path: String) {
    #expect(StaticPath.components(ofRequestPath: path) == nil, "\(path) must be refused")
}

@Test func directoryConventionAppendsIndex() {
    #expect(StaticPath.servedFile(forRequestPath: "/") == ["index.html"])
    #expect(StaticPath.servedFile(forRequestPath: "/docs/") == ["docs", "index.html"])
    #expect(StaticPath.servedFile(forRequestPath: "/docs") == ["docs"])
    #expect(StaticPath.servedFile(forRequestPath: "/../") == nil)
}

// MARK: - MIMEType

@Test(arguments: [
    ("html", "text/html; charset=utf-8"), ("HTML", "text/html; charset=utf-8"), (".css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"), ("mjs", "text/javascript; charset=utf-8"),
    ("json", "application/json; charset=utf-8"), ("map", "application/json; charset=utf-8"),
    ("svg", "image/svg+xml; charset=utf-8"), ("png", "image/png"), ("jpg", "image/jpeg"), ("jpeg", "image/jpeg"),
    ("ico", "image/x-icon"), ("webmanifest", "application/manifest+json; charset=utf-8"),
    ("txt", "text/plain; charset=utf-8"), ("woff2", "font/woff2"), ("wasm", "application/wasm"),
    ("exe", "application/octet-stream"), ("", "application/octet-stream"),
])
func mimeTypes(_ ext: String, _ type: String) {
    #expect(MIMEType.forExtension(ext) == type)
}

// MARK: - HTTPDate

@Test(arguments: [
    (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
    (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),      // the RFC 9110 example
    (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),      // leap day of a 400-year leap year
    (1_709_164_799, "Wed, 28 Feb 2024 23:59:59 GMT"),
    (1_709_251_199, "Thu, 29 Feb 2024 23:59:59 GMT"),
    (2_147_483_648, "Tue, 19 Jan 2038 03:14:08 GMT"),    // past 32-bit time_t
    (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 GMT"),    // 2100 is not a leap year...
    (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),    // ...so March follows 28 Feb
    (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
])
func httpDateRoundTrip(_ seconds: Int, _ text: String) {
    #expect(HTTPDate.format(seconds) == text)
    #expect(HTTPDate.parse(text) == seconds)
}

@Test func httpDateRoundTripsAcrossYears() {
    // Every ~3.7 days for 200 years, crossing every month boundary kind.
    var s = -86_400 * 365 * 30
    while s < 86_400 * 365 * 170 {
        #expect(HTTPDate.parse(HTTPDate.format(s)) == s)
        s += 321_987
    }
}

@Test(arguments: [
    "Sunday, 06-Nov-94 08:49:37 GMT",      // RFC 850
    "Sun Nov  6 08:49:37 1994",            // asctime
    "Sun, 06 Nov 1994 08:49:37 UTC",
    "Sun, 06 Nov 1994 08:49:37 GMT ",
    "Sun, 6 Nov 1994 08:49:37 GMT",
    "Sun, 06 nov 1994 08:49:37 GMT",
    "Xyz, 06 Nov 1994 08:49:37 GMT",
    "Sun, 31 Nov 1994 08:49:37 GMT",
    "Sun, 29 Feb 1900 08:49:37 GMT",
    "Sun, 00 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 24:00:00 GMT",
    "Sun, 06 Nov 1994 08:60:00 GMT",
    "Sun, 06 Nov 1994 08:49:61 GMT",
    "Sun, 06 Nov 19-4 08:49:37 GMT",
    "Sun, 06 Nov 1994 08:49:37 GM\u{E9}",
    "",
])
func httpDateRejects(_ text: String) {
    #expect(HTTPDate.parse(text) == nil)
}

// MARK: - ConditionalRequest

private let etag = "\"v1-abc\""
private let modified = 784_111_777  // Sun, 06 Nov 1994 08:49:37 GMT

private func notModified(_ fields: [(String, String)]) -> Bool {
    ConditionalRequest.isNotModified(headers: HTTPHeaders(fields), etag: etag, lastModified: modified)
}

@Test func ifNoneMatch() {
    #expect(notModified([("If-None-Match", "\"v1-abc\"")]))
    #expect(notModified([("If-None-Match", "W/\"v1-abc\"")]), "weak comparison")
    #expect(notModified([("If-None-Match", "\"x\", \"v1-abc\"")]))
    #expect(notModified([("If-None-Match", "\"x\""), ("If-None-Match", "\"v1-abc\"")]))
    #expect(notModified([("If-None-Match", "*")]))
    #expect(!notModified([("If-None-Match", "\"v1-ab\"")]))
    #expect(!notModified([("If-None-Match", "v1-abc")]), "unquoted is malformed")
    #expect(!notModified([("If-None-Match", "\"x,\"v1-abc\"")]), "malformed list")
    #expect(!notModified([("If-None-Match", "")]))
    #expect(ConditionalRequest.isNotModified(headers: HTTPHeaders([("If-None-Match", "\"v1-abc\"")]),
                                             etag: "W/\"v1-abc\"", lastModified: modified))
    #expect(ConditionalRequest.entityTags("\"a,b\", W/\"c\"") == ["\"a,b\"", "W/\"c\""])
}

@Test func ifNoneMatchTakesPrecedence() {
    let recent = HTTPDate.format(modified + 60)
    #expect(!notModified([("If-None-Match", "\"other\""), ("If-Modified-Since", recent)]))
    #expect(notModified([("If-None-Match", etag), ("If-Modified-Since", HTTPDate.format(modified - 60))]))
}

@Test func ifModifiedSince() {
    #expect(notModified([("If-Modified-Since", HTTPDate.format(modified))]))
    #expect(notModified([("If-Modified-Since", HTTPDate.format(modified + 1))]))
    #expect(!notModified([("If-Modified-Since", HTTPDate.format(modified - 1))]))
    #expect(!notModified([("If-Modified-Since", "yesterday")]))
    #expect(!notModified([]))
}

// MARK: - AcceptEncoding

@Test(arguments: [
    ("gzip", true), ("gzip, deflate, br", true), ("GZIP", true), ("x-gzip", true),
    ("deflate, gzip;q=0.5", true), ("gzip;q=0", false), ("gzip; q=0.000", false), ("gzip;q=0.001", true),
    ("*", true), ("*;q=0", false), ("br, *", true), ("*, gzip;q=0", false), ("gzip;q=0, *", false),
    ("identity", false), ("", false), ("br, deflate", false), ("identity;q=1, *;q=0", false),
    ("gzip;q=1.0", true), ("gzip;q=2", false), ("gzip;q=abc", false), ("gzip;level=1", true),
])
func acceptsGzip(_ value: String, _ expected: Bool) {
    #expect(AcceptEncoding.acceptsGzip(HTTPHeaders([("Accept-Encoding", value)])) == expected, "\(value)")
}

@Test func acceptEncodingAbsentOrRepeated() {
    #expect(!AcceptEncoding.acceptsGzip(HTTPHeaders()))
    #expect(AcceptEncoding.acceptsGzip(HTTPHeaders([("Accept-Encoding", "br"), ("accept-encoding", "gzip")])))
}

@Test(arguments: [("0", 0.0), ("1", 1.0), ("0.5", 0.5), ("0.25", 0.25), ("0.125", 0.125), ("1.000", 1.0)])
func qValues(_ text: String, _ value: Double) {
    #expect(AcceptEncoding.qValue(Substring(text)) == value)
}

@Test(arguments: ["", "0.1234", "1.5", "2", ".5", "0,5", "-0"])
func invalidQValues(_ text: String) {
    #expect(AcceptEncoding.qValue(Substring(text)) == nil)
}
