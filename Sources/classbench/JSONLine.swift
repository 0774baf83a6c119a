import Foundation

/// A one-line JSON object with fields in insertion order, so the output reads in the
/// same order as the human summary and diffs cleanly between runs.
struct JSONLine {
    private var parts: [String] = []

    mutating func add(_ key: String, _ value: String) { parts.append("\(JSONLine.quote(key)):\(JSONLine.quote(value))") }
    mutating func add(_ key: String, _ value: Int) { parts.append("\(JSONLine.quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: UInt64) { parts.append("\(JSONLine.quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: Bool) { parts.append("\(JSONLine.quote(key)):\(value)") }
    /// Non-finite numbers are not JSON; they become null.
    mutating func add(_ key: String, _ value: Double, decimals: Int = 1) {
        parts.append("\(JSONLine.quote(key)):\(value.isFinite ? String(format: "%.\(decimals)f", value) : "null")")
    }
    mutating func add(_ key: String, object: JSONLine) { parts.append("\(JSONLine.quote(key)):\(object.text)") }
    mutating func addNull(_ key: String) { parts.append("\(JSONLine.quote(key)):null") }

    var text: String { "{" + parts.joined(separator: ",") + "}" }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
