// permessage-deflate negotiation (RFC 7692 §5 and §7.1), server side.

/// Negotiated permessage-deflate parameters (RFC 7692 §7.1).
public struct DeflateParameters: Sendable, Equatable {
    public var serverNoContextTakeover: Bool
    public var clientNoContextTakeover: Bool
    /// 8...15. zlib's raw deflate cannot use 8, so the compressor uses 9 when 8 was negotiated,
    /// as other zlib-based servers do.
    public var serverMaxWindowBits: Int
    public var clientMaxWindowBits: Int

    public init(serverNoContextTakeover: Bool = true, clientNoContextTakeover: Bool = false, serverMaxWindowBits: Int = 15, clientMaxWindowBits: Int = 15) {
        self.serverNoContextTakeover = serverNoContextTakeover
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverMaxWindowBits = serverMaxWindowBits
        self.clientMaxWindowBits = clientMaxWindowBits
    }
}

/// One extension from a Sec-WebSocket-Extensions header: a name and its parameters, values unquoted.
struct ExtensionOffer: Equatable {
    var name: String
    var parameters: [(name: String, value: String?)]

    static func == (a: ExtensionOffer, b: ExtensionOffer) -> Bool {
        a.name == b.name && a.parameters.count == b.parameters.count
            && zip(a.parameters, b.parameters).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

enum PermessageDeflateNegotiation {
    /// Parses Sec-WebSocket-Extensions values (RFC 6455 §9.1 grammar): comma-separated
    /// extensions, `;`-separated parameters, token or quoted-string values. An extension with a
    /// syntax error is dropped (it cannot be accepted); the others are kept in order.
    static func parseOffers(_ headerValues: [String]) -> [ExtensionOffer] {
        var offers: [ExtensionOffer] = []
        for value in headerValues {
            for element in splitOutsideQuotes(Array(value.utf8), separator: UInt8(ascii: ",")) {
                if let offer = parseExtension(element) { offers.append(offer) }
            }
        }
        return offers
    }

    private static func parseExtension(_ bytes: [UInt8]) -> ExtensionOffer? {
        let parts = splitOutsideQuotes(bytes, separator: UInt8(ascii: ";")).map(trim)
        guard let first = parts.first, !first.isEmpty, first.allSatisfy(isTokenChar) else { return nil }
        var offer = ExtensionOffer(name: String(decoding: first, as: UTF8.self).lowercasedASCII, parameters: [])
        for part in parts.dropFirst() {
            if let eq = part.firstIndex(of: UInt8(ascii: "=")) {
                let name = trim(Array(part[..<eq]))
                var value = trim(Array(part[(eq + 1)...]))
                guard !name.isEmpty, name.allSatisfy(isTokenChar) else { return nil }
                if value.first == UInt8(ascii: "\"") {
                    guard let unquoted = unquote(value) else { return nil }
                    value = unquoted
                }
                // RFC 7692 §7.1: a quoted value must still be a token once unquoted.
                guard !value.isEmpty, value.allSatisfy(isTokenChar) else { return nil }
                offer.parameters.append((String(decoding: name, as: UTF8.self).lowercasedASCII, String(decoding: value, as: UTF8.self)))
            } else {
                guard !part.isEmpty, part.allSatisfy(isTokenChar) else { return nil }
                offer.parameters.append((String(decoding: part, as: UTF8.self).lowercasedASCII, nil))
            }
        }
        return offer
    }

    /// Checks one permessage-deflate offer; nil when it must be declined (unknown or
    /// duplicate parameter, invalid value). The server always answers with
    /// server_no_context_takeover (RFC 7692 §7.1.1.1 lets a server add it unasked).
    /// With `requireClientNoContextTakeover` it also asks the client not to keep context
    /// (§7.1.1.2), so the server can free each connection's inflater after every message.
    static func accept(_ offer: ExtensionOffer, requireClientNoContextTakeover: Bool) -> (DeflateParameters, String)? {
        guard offer.name == "permessage-deflate" else { return nil }
        var seen = Set<String>()
        var clientNoContext = false
        var serverBits: Int?
        var clientBits: Int?
        for (name, value) in offer.parameters {
            guard seen.insert(name).inserted else { return nil }
            switch name {
            case "server_no_context_takeover":
                guard value == nil else { return nil }
            case "client_no_context_takeover":
                guard value == nil else { return nil }
                clientNoContext = true
            case "server_max_window_bits":
                guard let value, let bits = windowBits(value) else { return nil }
                serverBits = bits
            case "client_max_window_bits":
                if let value {
                    guard let bits = windowBits(value) else { return nil }
                    clientBits = bits
                } else {
                    clientBits = 15     // the client supports the parameter; we don't limit it
                }
            default:
                return nil
            }
        }
        let params = DeflateParameters(serverNoContextTakeover: true,
                                       clientNoContextTakeover: clientNoContext || requireClientNoContextTakeover,
                                       serverMaxWindowBits: serverBits ?? 15,
                                       clientMaxWindowBits: clientBits ?? 15)
        var response = "permessage-deflate; server_no_context_takeover"
        if params.clientNoContextTakeover { response += "; client_no_context_takeover" }
        if let serverBits { response += "; server_max_window_bits=\(serverBits)" }
        // client_max_window_bits is not echoed: our inflater uses a 32 KiB window, enough for any client window.
        return (params, response)
    }

    /// Accepts the first acceptable offer, or nil when none is (then no extension is used).
    static func negotiate(_ headerValues: [String], requireClientNoContextTakeover: Bool) -> (DeflateParameters, String)? {
        for offer in parseOffers(headerValues) {
            if let accepted = accept(offer, requireClientNoContextTakeover: requireClientNoContextTakeover) { return accepted }
        }
        return nil
    }

    /// "8"..."15", no leading zeros or signs (RFC 7692 §7.1.2.1 ABNF: %x38-39 / "1" %x30-35).
    private static func windowBits(_ value: String) -> Int? {
        guard value.utf8.count <= 2, value.first != "0", let n = Int(value), n >= 8, n <= 15 else { return nil }
        return n
    }

    // MARK: - tokens and quoting (RFC 9110 §5.6)

    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return tokenSymbols.contains(c)
        }
    }
    private static let tokenSymbols: Set<UInt8> = Set("!#$%&'*+-.^_`|~".utf8)

    private static func trim(_ bytes: [UInt8]) -> [UInt8] {
        var s = bytes[...]
        while let f = s.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
        while let l = s.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
        return Array(s)
    }

    /// Splits at `separator` except inside quoted strings (which may contain escaped quotes).
    private static func splitOutsideQuotes(_ bytes: [UInt8], separator: UInt8) -> [[UInt8]] {
        var parts: [[UInt8]] = []
        var current: [UInt8] = []
        var inQuotes = false
        var escaped = false
        for c in bytes {
            if inQuotes {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inQuotes = false }
                current.append(c)
            } else if c == separator {
                parts.append(trim(current)); current = []
            } else {
                if c == UInt8(ascii: "\"") { inQuotes = true }
                current.append(c)
            }
        }
        parts.append(trim(current))
        return parts.filter { !$0.isEmpty }
    }

    /// The contents of a quoted-string, or nil if it is not exactly one well-formed quoted-string.
    private static func unquote(_ bytes: [UInt8]) -> [UInt8]? {
        guard bytes.count >= 2, bytes.first == UInt8(ascii: "\""), bytes.last == UInt8(ascii: "\"") else { return nil }
        var out: [UInt8] = []
        var i = 1
        while i < bytes.count - 1 {
            var c = bytes[i]
            if c == UInt8(ascii: "\"") { return nil }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < bytes.count - 1 else { return nil }
                c = bytes[i]
            }
            out.append(c)
            i += 1
        }
        return out
    }
}
