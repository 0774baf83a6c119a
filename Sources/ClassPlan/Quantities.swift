// Parsing and printing of the quantities a coach types: durations, distances, speeds, inclines.
// Each parser returns a coach-readable message on failure; the caller adds file position and path.

import Foundation

public enum Quantity {
    /// Longest duration accepted anywhere in a plan; longer values are typos ("90h").
    public static let maxDurationMs: Int64 = 24 * 3_600_000
    /// Longest distance for one round.
    public static let maxDistanceMeters = 100_000.0

    /// "90s", "5min", "1h", "2m30s", "1h30m", "1.5min", "500ms", "1:30" (m:ss), "1:02:03" (h:mm:ss).
    public static func duration(_ raw: String, field: String = "duration") -> Result<Int64, QuantityError> {
        let text = raw.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return .failure(.init("\(field) is empty, e.g. 90s or 5min")) }
        if text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) {
            return .failure(.init("\(field) '\(text)' needs a unit, e.g. \(text)s"))
        }
        let parsed = text.contains(":") ? clockDuration(text) : unitDuration(text)
        guard let ms = parsed else {
            return .failure(.init("\(field) '\(text)' is not a duration; write e.g. 90s, 5min, 2m30s or 1:30"))
        }
        guard ms <= maxDurationMs else {
            return .failure(.init("\(field) '\(text)' is longer than 24h"))
        }
        return .success(ms)
    }

    /// "25m", "0.5km", "25 m".
    public static func distance(_ raw: String) -> Result<Double, QuantityError> {
        let text = raw.trimmingCharacters(in: .whitespaces)
        guard let (number, unit) = splitNumber(text) else {
            return .failure(.init("distance '\(text)' is not a distance; write e.g. 25m or 0.5km"))
        }
        let factor: Double
        switch unit.lowercased() {
        case "m": factor = 1
        case "km": factor = 1000
        case "": return .failure(.init("distance '\(text)' needs a unit, e.g. \(text)m"))
        default: return .failure(.init("distance '\(text)' has unknown unit '\(unit)'; use m or km"))
        }
        let meters = number * factor
        guard meters >= 1 else { return .failure(.init("distance '\(text)' is shorter than 1m")) }
        guard meters <= maxDistanceMeters else {
            return .failure(.init("distance '\(text)' is longer than 100km"))
        }
        return .success(meters)
    }

    /// "1.8mph", "3km/h", "3 kph".
    public static func speed(_ raw: String) -> Result<Speed, QuantityError> {
        let text = raw.trimmingCharacters(in: .whitespaces)
        guard let (number, unit) = splitNumber(text) else {
            return .failure(.init("speed '\(text)' is not a speed; write e.g. 1.8mph or 3km/h"))
        }
        let kmh: Double
        switch unit.lowercased() {
        case "mph": kmh = number * Speed.kmhPerMph
        case "km/h", "kmh", "kph": kmh = number
        case "": return .failure(.init("speed '\(text)' needs a unit, e.g. \(text)mph or \(text)km/h"))
        default: return .failure(.init("speed '\(text)' has unknown unit '\(unit)'; use mph or km/h"))
        }
        guard kmh > 0, kmh <= 30 else {
            return .failure(.init("speed '\(text)' must be more than 0 and at most 30km/h"))
        }
        return .success(Speed(text: text, kmh: kmh))
    }

    /// "7%"; treadmills go from a slight decline to steep climbs.
    public static func incline(_ raw: String) -> Result<Double, QuantityError> {
        let text = raw.trimmingCharacters(in: .whitespaces)
        guard let (number, unit) = splitNumber(text, allowNegative: true) else {
            return .failure(.init("incline '\(text)' is not an incline; write e.g. 7%"))
        }
        guard unit == "%" else {
            return .failure(.init("incline '\(text)' needs a percent sign, e.g. \(formatNumber(number))%"))
        }
        guard number >= -5, number <= 40 else {
            return .failure(.init("incline '\(text)' must be between -5% and 40%"))
        }
        return .success(number)
    }

    // MARK: Printing (the inverse of the parsers: parse(format(x)) == x)

    public static func formatDuration(_ ms: Int64) -> String {
        if ms % 1000 != 0 { return "\(ms)ms" }
        let seconds = ms / 1000
        if seconds < 60 { return "\(seconds)s" }
        let hours = seconds / 3600, minutes = seconds % 3600 / 60, rest = seconds % 60
        var text = ""
        if hours > 0 { text += "\(hours)h" }
        if minutes > 0 { text += rest == 0 && hours == 0 ? "\(minutes)min" : "\(minutes)m" }
        if rest > 0 { text += "\(rest)s" }
        return text
    }

    /// Clock style for tables and screens: "1:30", "12:05", "1:02:03".
    public static func formatClock(_ ms: Int64) -> String {
        let seconds = max(0, ms) / 1000
        let hours = seconds / 3600, minutes = seconds % 3600 / 60, rest = seconds % 60
        let ss = rest < 10 ? "0\(rest)" : "\(rest)"
        if hours > 0 { return "\(hours):\(minutes < 10 ? "0" : "")\(minutes):\(ss)" }
        return "\(minutes):\(ss)"
    }

    public static func formatDistance(_ meters: Double) -> String {
        if meters >= 1000, meters.truncatingRemainder(dividingBy: 1000) == 0 {
            return "\(formatNumber(meters / 1000))km"
        }
        return "\(formatNumber(meters))m"
    }

    /// Shortest text that reads back as the same number: 25 not 25.0.
    public static func formatNumber(_ value: Double) -> String {
        if value.rounded() == value, abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    // MARK: Helpers

    /// Splits "12.5km/h" into (12.5, "km/h"); nil when there is no leading number.
    /// Digit runs are capped so a hostile "999…9s" is an error, not an infinity.
    static func splitNumber(_ text: String, allowNegative: Bool = false) -> (Double, String)? {
        var digits = Substring(text)
        var sign = 1.0
        if allowNegative, digits.first == "-" { sign = -1; digits = digits.dropFirst() }
        let numberPart = digits.prefix { ($0.isASCII && $0.isNumber) || $0 == "." }
        guard !numberPart.isEmpty, numberPart.count <= 12, let value = Double(numberPart) else { return nil }
        let unit = digits.dropFirst(numberPart.count).trimmingCharacters(in: .whitespaces)
        return (sign * value, unit)
    }

    /// "2m30s", "1h", "90 s", "1.5min": number-unit pairs, each unit at most once, largest first.
    private static func unitDuration(_ text: String) -> Int64? {
        var rest = Substring(text.lowercased())
        var total = 0.0
        var lastRank = Int.max
        while !rest.isEmpty {
            let numberPart = rest.prefix { ($0.isASCII && $0.isNumber) || $0 == "." }
            guard !numberPart.isEmpty, numberPart.count <= 12, let value = Double(numberPart) else { return nil }
            rest = rest.dropFirst(numberPart.count).drop { $0 == " " }
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count).drop { $0 == " " }
            let msPerUnit: Double, rank: Int
            switch unit {
            case "h", "hr", "hrs", "hour", "hours": (msPerUnit, rank) = (3_600_000, 3)
            case "m", "min", "mins", "minute", "minutes": (msPerUnit, rank) = (60_000, 2)
            case "s", "sec", "secs", "second", "seconds": (msPerUnit, rank) = (1000, 1)
            case "ms": (msPerUnit, rank) = (1, 0)
            default: return nil
            }
            guard rank < lastRank else { return nil }
            lastRank = rank
            total += value * msPerUnit
        }
        return toMilliseconds(total)
    }

    /// "1:30" is 1 min 30 s, "1:02:03" is 1 h 2 min 3 s: how stopwatches print.
    private static func clockDuration(_ text: String) -> Int64? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        var total = 0.0
        for (index, part) in parts.enumerated() {
            guard !part.isEmpty, part.count <= 6, part.allSatisfy({ ($0.isASCII && $0.isNumber) || $0 == "." }),
                  let value = Double(part) else { return nil }
            let isLast = index == parts.count - 1
            // Only the first field may exceed 59 (so "90:00" is fine, "1:75" is a typo).
            if index > 0, value >= 60 { return nil }
            if !isLast, part.contains(".") { return nil }
            total = total * 60 + value
        }
        return toMilliseconds(total * 1000)
    }

    private static func toMilliseconds(_ value: Double) -> Int64? {
        guard value.isFinite, value >= 0, value <= Double(maxDurationMs) * 10 else { return nil }
        return Int64(value.rounded())
    }
}

public struct QuantityError: Error, Equatable, Sendable {
    public var message: String
    init(_ message: String) { self.message = message }
}
