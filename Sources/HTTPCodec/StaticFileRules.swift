// Pure rules for serving static files: path sanitising, MIME types, HTTP dates,
// conditional requests and content negotiation. The file I/O lives in NetServer.

public enum StaticPath {
    /// Turns a request path (still percent-encoded, without query) into safe relative path
    /// components under the web root, or nil when it must be refused.
    ///
    /// Refused: paths not starting with "/", `.`/`..` segments (also percent-encoded, e.g.
    /// `%2e%2e`), segments starting with "." (hidden files), encoded slashes and any
    /// backslash (`%2f`, `%5c`, `\`), NUL and other control characters, invalid
    /// percent-encoding and invalid UTF-8. Empty segments (`a//b`) are skipped.
    ///
    /// Convention: "/" gives `[]`, and a path ending in "/" names a directory; in both cases
    /// the caller serves `index.html` inside it (`servedFile(forRequestPath:)` does that).
    public static func components(ofRequestPath path: String) -> [String]? {
        let bytes = Array(path.utf8)
        guard bytes.first == ASCII.slash else { return nil }
        var result: [String] = []
        for rawSegment in bytes.split(separator: ASCII.slash, omittingEmptySubsequences: true) {
            guard let decoded = percentDecode(rawSegment) else { return nil }
            // Decoded separators would let one segment reach another directory; control
            // characters have no business in file names.
            guard !decoded.contains(where: { $0 == ASCII.slash || $0 == backslash || $0 < 0x20 || $0 == 0x7F }) else { return nil }
            // Also refuses "." and "..".
            guard decoded.first != ASCII.dot else { return nil }
            guard let segment = String(validating: decoded, as: UTF8.self) else { return nil }
            result.append(segment)
        }
        return result
    }

    /// `components(ofRequestPath:)` plus the directory convention: "/" and paths ending in
    /// "/" get "index.html" appended.
    public static func servedFile(forRequestPath path: String) -> [String]? {
        guard var parts = components(ofRequestPath: path) else { return nil }
        if path.utf8.last == ASCII.slash { parts.append("index.html") }
        return parts
    }

    private static let backslash: UInt8 = 0x5C

    /// Decodes %XX escapes; nil on a truncated or non-hex escape.
    static func percentDecode(_ bytes: ArraySlice<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == 0x25 {  // "%"
                guard bytes.endIndex - i >= 3,
                      let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) else { return nil }
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(b)
                i += 1
            }
        }
        return out
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x41 + 10
        case 0x61...0x66: return b - 0x61 + 10
        default: return nil
        }
    }
}

public enum MIMEType {
    /// Content-Type for a file extension (with or without the leading dot, any case);
    /// text types carry "; charset=utf-8". Unknown extensions get application/octet-stream.
    public static func forExtension(_ ext: String) -> String {
        var key = ext.lowercasedASCII
        if key.hasPrefix(".") { key.removeFirst() }
        switch key {
        case "html", "htm": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "json", "map": return "application/json; charset=utf-8"
        case "webmanifest": return "application/manifest+json; charset=utf-8"
        case "txt": return "text/plain; charset=utf-8"
        case "svg": return "image/svg+xml; charset=utf-8"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "ico": return "image/x-icon"
        case "woff2": return "font/woff2"
        case "wasm": return "application/wasm"
        default: return "application/octet-stream"
        }
    }
}

/// IMF-fixdate (RFC 9110 §5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT", by plain calendar
/// arithmetic: no formatter, no locale, no time zone database.
public enum HTTPDate {
    private static let dayNames = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    public static func format(_ secondsSince1970: Int) -> String {
        let (days, secondOfDay) = floorDivMod(secondsSince1970, 86_400)
        let (year, month, day) = civilFromDays(days)
        let weekday = dayNames[floorDivMod(days, 7).remainder]
        return "\(weekday), \(pad2(day)) \(monthNames[month - 1]) \(pad4(year)) "
            + "\(pad2(secondOfDay / 3600)):\(pad2(secondOfDay / 60 % 60)):\(pad2(secondOfDay % 60)) GMT"
    }

    /// Parses an IMF-fixdate; nil on anything else (including the obsolete RFC 850 and
    /// asctime forms, which nothing current sends). The day name must be a valid name but
    /// is not cross-checked against the date.
    public static func parse(_ text: String) -> Int? {
        let b = Array(text.utf8)
        guard b.count == 29,
              b[3] == 0x2C, b[4] == ASCII.space, b[7] == ASCII.space, b[11] == ASCII.space,
              b[16] == ASCII.space, b[19] == ASCII.colon, b[22] == ASCII.colon, b[25] == ASCII.space,
              b[26...28].elementsEqual("GMT".utf8),
              dayNames.contains(String(decoding: b[0..<3], as: UTF8.self)),
              let monthIndex = monthNames.firstIndex(of: String(decoding: b[8..<11], as: UTF8.self)),
              let day = digits(b[5..<7]), let year = digits(b[12..<16]),
              let hour = digits(b[17..<19]), let minute = digits(b[20..<22]), let second = digits(b[23..<25])
        else { return nil }
        let month = monthIndex + 1
        guard day >= 1, day <= daysInMonth(year: year, month: month),
              hour <= 23, minute <= 59, second <= 60 else { return nil }  // 60: leap second
        return daysFromCivil(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
    }

    private static func digits(_ s: ArraySlice<UInt8>) -> Int? {
        var v = 0
        for c in s {
            guard ASCII.isDigit(c) else { return nil }
            v = v * 10 + Int(c - ASCII.zero)
        }
        return v
    }

    private static func pad2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    private static func pad4(_ n: Int) -> String {
        let s = "\(n)"
        return n >= 0 && s.count < 4 ? String(repeating: "0", count: 4 - s.count) + s : s
    }

    private static func floorDivMod(_ a: Int, _ b: Int) -> (quotient: Int, remainder: Int) {
        let r = a % b
        return r < 0 ? (a / b - 1, r + b) : (a / b, r)
    }

    private static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    private static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's days_from_civil / civil_from_days: proleptic Gregorian calendar,
    // eras of 400 years so leap rules need no tables.
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivMod(y, 400).quotient
        let yoe = y - era * 400
        let mp = (month + 9) % 12                       // March = 0
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = floorDivMod(z, 146_097).quotient
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

public enum ConditionalRequest {
    /// RFC 9110 §13.2.2 evaluation for GET/HEAD: If-None-Match (weak comparison, lists, "*")
    /// takes precedence over If-Modified-Since. True = answer 304.
    ///
    /// `etag` is the resource's entity-tag as sent in the ETag header, quotes included
    /// (`"abc"` or `W/"abc"`); `lastModified` is in seconds since 1970.
    public static func isNotModified(headers: HTTPHeaders, etag: String, lastModified: Int) -> Bool {
        let ifNoneMatch = headers.values("If-None-Match")
        if !ifNoneMatch.isEmpty {
            let own = opaqueTag(etag)
            for value in ifNoneMatch {
                // A malformed field is treated as not matching, so the full response is sent.
                guard let tags = entityTags(value) else { return false }
                for tag in tags where tag == "*" || opaqueTag(tag) == own { return true }
            }
            return false
        }
        guard let since = headers["If-Modified-Since"], let date = HTTPDate.parse(since) else { return false }
        return lastModified <= date
    }

    /// Weak comparison ignores the W/ prefix (RFC 9110 §8.8.3.2).
    private static func opaqueTag(_ tag: String) -> Substring {
        tag.hasPrefix("W/") ? tag.dropFirst(2) : Substring(tag)
    }

    /// `"*" / #entity-tag`, each tag returned as sent (`W/"x"` or `"x"`); nil if malformed.
    /// Tags are scanned rather than split on commas because a tag may contain a comma.
    static func entityTags(_ value: String) -> [String]? {
        let b = Array(value.utf8)
        var tags: [String] = []
        var i = 0
        while i < b.count {
            let c = b[i]
            if c == ASCII.space || c == ASCII.tab || c == 0x2C { i += 1; continue }
            if c == 0x2A { tags.append("*"); i += 1; continue }
            let tagStart = i
            if c == 0x57 {  // "W/"
                guard i + 1 < b.count, b[i + 1] == ASCII.slash else { return nil }
                i += 2
            }
            guard i < b.count, b[i] == 0x22 else { return nil }
            guard let close = b[(i + 1)...].firstIndex(of: 0x22) else { return nil }
            tags.append(String(decoding: b[tagStart...close], as: UTF8.self))
            i = close + 1
            // After a tag only OWS and a comma may follow.
            guard i == b.count || b[i] == 0x2C || b[i] == ASCII.space || b[i] == ASCII.tab else { return nil }
        }
        return tags
    }
}

public enum AcceptEncoding {
    /// Whether gzip is acceptable: parses codings with q-values ("gzip;q=0" refuses, "*" counts,
    /// identity-only refuses). No Accept-Encoding field at all also refuses: RFC 9110 would
    /// allow any coding then, but clients that can decode gzip always say so.
    public static func acceptsGzip(_ headers: HTTPHeaders) -> Bool {
        let values = headers.values("Accept-Encoding")
        guard !values.isEmpty else { return false }
        var gzipQ: Double?
        var starQ: Double?
        for element in values.flatMap({ $0.split(separator: ",") }) {
            let parts = element.split(separator: ";")
            guard let first = parts.first else { continue }
            let coding = first.trimmingOWS().lowercasedASCII
            var q = 1.0
            for param in parts.dropFirst() {
                let kv = param.trimmingOWS()
                guard kv.lowercasedASCII.hasPrefix("q=") else { continue }
                q = qValue(kv.dropFirst(2)) ?? 0   // an unreadable weight is not consent
            }
            switch coding {
            case "gzip", "x-gzip": gzipQ = min(gzipQ ?? q, q)
            case "*": starQ = min(starQ ?? q, q)
            default: break
            }
        }
        if let gzipQ { return gzipQ > 0 }
        return (starQ ?? 0) > 0
    }

    /// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` (RFC 9110 §12.4.2).
    static func qValue(_ text: Substring) -> Double? {
        let t = text.trimmingOWS()
        let b = Array(t.utf8)
        guard let first = b.first, first == ASCII.zero || first == ASCII.one else { return nil }
        if b.count == 1 { return first == ASCII.one ? 1 : 0 }
        guard b[1] == ASCII.dot, b.count <= 5, b[2...].allSatisfy(ASCII.isDigit) else { return nil }
        var fraction = 0
        for d in b[2...] { fraction = fraction * 10 + Int(d - ASCII.zero) }
        for _ in b.count..<5 { fraction *= 10 }  // scale to thousandths
        if first == ASCII.one { return fraction == 0 ? 1 : nil }
        return Double(fraction) / 1000
    }
}
