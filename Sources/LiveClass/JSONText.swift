// A tiny JSON writer for the server's messages: the protocol's shapes are fixed, and
// writing them directly keeps explicit nulls and avoids Foundation's encoder per message.

struct JSONObject {
    private(set) var text = "{"
    private var first = true

    private mutating func key(_ k: String) {
        if !first { text += "," }
        first = false
        text += "\"\(k)\":"
    }

    mutating func add(_ k: String, _ v: String?) {
        key(k)
        if let v { text += JSONObject.quote(v) } else { text += "null" }
    }
    mutating func add(_ k: String, _ v: Int64?) { key(k); text += v.map(String.init) ?? "null" }
    mutating func add(_ k: String, _ v: Int?) { key(k); text += v.map(String.init) ?? "null" }
    mutating func add(_ k: String, _ v: Double?) {
        key(k)
        if let v, v.isFinite { text += v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v) } else { text += "null" }
    }
    mutating func add(_ k: String, _ v: Bool) { key(k); text += v ? "true" : "false" }
    mutating func add(_ k: String, raw: String) { key(k); text += raw }
    mutating func add(_ k: String, strings: [String]) { key(k); text += "[" + strings.map(JSONObject.quote).joined(separator: ",") + "]" }

    var done: String { text + "}" }

    static func array(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }

    static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
