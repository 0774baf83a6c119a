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

    /// The 1-based line and column (in Unicode scalars, as editors count) of the byte at `offset`.
    /// The bytes before `offset` are UTF-8 text; what follows may be anything (an invalid byte).
    static func position<Bytes: Collection<UInt8>>(ofByte offset: Int, in bytes: Bytes) -> (line: Int, column: Int) {
        var line = 1, column = 1
        for scalar in String(decoding: bytes.prefix(offset), as: UTF8.self).unicodeScalars {
            if scalar == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }
}

extension Array where Element == Diagnostic {
    public var hasErrors: Bool { contains { $0.severity == .error } }
    public var errors: [Diagnostic] { filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { filter { $0.severity == .warning } }
}
