/// One problem found in a plan file, with the place a coach's editor can jump to.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable {
        case error, warning
    }

    public var severity: Severity
    public var file: String
    /// 1-based; 0 when the problem has no place in the text (e.g. an empty file).
    public var line: Int
    public var column: Int
    /// Where in the plan, e.g. "segments[3].duration"; empty for the file as a whole.
    public var path: String
    /// Coach-readable explanation, e.g. "duration '90' needs a unit, e.g. 90s".
    public var message: String

    public init(severity: Severity, file: String, line: Int, column: Int, path: String, message: String) {
        self.severity = severity
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
    }

    /// "file:line:col: error: segments[3].duration: duration '90' needs a unit, e.g. 90s"
    public var formatted: String {
        let place = line > 0 ? "\(file):\(line):\(column)" : file
        let subject = path.isEmpty ? "" : "\(path): "
        return "\(place): \(severity.rawValue): \(subject)\(message)"
    }

    public var description: String { formatted }
}

extension Array where Element == Diagnostic {
    public var hasErrors: Bool { contains { $0.severity == .error } }
    public var errors: [Diagnostic] { filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { filter { $0.severity == .warning } }
}
