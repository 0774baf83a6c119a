// Reading a plan file: bytes -> text -> YAML shape check -> Yams tree -> ClassPlan + warnings.
// Every stage reports with file, line and column and never traps on hostile input.

import Foundation
import Yams

public enum PlanLoader {
    /// Plans are a few KiB; anything this large is the wrong file.
    public static let maxFileBytes = 256 * 1024

    /// Reads and parses a file. Unreadable files are reported as a diagnostic at line 0.
    public static func load(contentsOf url: URL) -> (plan: ClassPlan?, diagnostics: [Diagnostic]) {
        let name = url.path
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            // Read one byte past the limit so an oversized file is reported without loading it all.
            let data = try handle.read(upToCount: maxFileBytes + 1) ?? Data()
            return parse(data: [UInt8](data), file: name)
        } catch {
            return (nil, [fileLevel(name, "cannot read the file: \(readableReason(error))")])
        }
    }

    public static func parse(data: [UInt8], file: String) -> (plan: ClassPlan?, diagnostics: [Diagnostic]) {
        guard data.count <= maxFileBytes else {
            return (nil, [fileLevel(file, "the file is larger than \(maxFileBytes / 1024) KiB; a plan file is a few KiB of text")])
        }
        var bytes = data[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }  // editors' UTF-8 BOM
        if let bad = firstInvalidUTF8(bytes) {
            let (line, column) = Diagnostic.position(ofByte: bad, in: bytes)
            return (nil, [Diagnostic(severity: .error, file: file, line: line, column: column, path: "",
                                     message: "the file is not UTF-8 text (invalid byte at offset \(bad)); save it as UTF-8")])
        }
        return parse(String(decoding: bytes, as: UTF8.self), file: file)
    }

    public static func parse(_ text: String, file: String) -> (plan: ClassPlan?, diagnostics: [Diagnostic]) {
        guard text.utf8.count <= maxFileBytes else {
            return (nil, [fileLevel(file, "the file is larger than \(maxFileBytes / 1024) KiB; a plan file is a few KiB of text")])
        }
        if let nul = text.utf8.firstIndex(of: 0) {
            let (line, column) = Diagnostic.position(ofByte: text.utf8.distance(from: text.utf8.startIndex, to: nul), in: text.utf8)
            return (nil, [Diagnostic(severity: .error, file: file, line: line, column: column, path: "",
                                     message: "the file contains NUL bytes: it is binary, not a plan")])
        }
        if let problem = YAMLShapeCheck.check(text) {
            return (nil, [Diagnostic(severity: .error, file: file, line: problem.line, column: problem.column,
                                     path: "", message: problem.message)])
        }

        let root: Node?
        do {
            root = try Yams.compose(yaml: text, .default, .default, .utf8)
        } catch {
            return (nil, [yamlDiagnostic(error, file: file)])
        }
        guard let root else {
            return (nil, [Diagnostic(severity: .error, file: file, line: 1, column: 1, path: "",
                                     message: "the file is empty: a plan needs at least 'title:' and 'segments:'")])
        }

        var decoder = PlanDecoder(file: file)
        guard let plan = decoder.decode(root) else { return (nil, inFileOrder(decoder.diagnostics)) }
        var diagnostics = decoder.diagnostics
        for advice in PlanAdvice.warnings(for: plan) {
            let mark = decoder.sourceMap.locate(advice.path)
            diagnostics.append(Diagnostic(severity: .warning, file: file, line: mark.line, column: mark.column,
                                          path: advice.path, message: advice.message))
        }
        return (plan, inFileOrder(diagnostics))
    }

    /// Errors and warnings interleaved by position, as an editor lists them.
    private static func inFileOrder(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        diagnostics.enumerated().sorted {
            ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
        }.map(\.element)
    }

    // MARK: Helpers

    private static func fileLevel(_ file: String, _ message: String) -> Diagnostic {
        Diagnostic(severity: .error, file: file, line: 0, column: 0, path: "", message: message)
    }

    /// The shape check catches syntax errors first, so what remains here is Yams' duplicate-key check.
    private static func yamlDiagnostic(_ error: Error, file: String) -> Diagnostic {
        var line = 1, column = 1
        var message = "YAML: \(error)"
        if let yamlError = error as? YamlError {
            switch yamlError {
            case .duplicatedKeysInMapping(let duplicates, let context):
                (line, column) = (context.mark.line, context.mark.column)
                let names = duplicates.map { "'\($0)'" }.joined(separator: ", ")
                message = "field \(names) appears more than once in the same mapping"
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
                 .composer(_, let problem, let mark, _):
                (line, column) = (mark.line, mark.column)
                message = "YAML syntax: \(problem)"
            default:
                break
            }
        }
        return Diagnostic(severity: .error, file: file, line: line, column: column, path: "", message: message)
    }

    private static func readableReason(_ error: Error) -> String {
        let nsError = error as NSError
        if nsError.domain == NSCocoaErrorDomain, let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if nsError.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(nsError.code))) }
        return nsError.localizedDescription
    }

    /// Byte offset (from the slice start) of the first byte that is not valid UTF-8, if any.
    static func firstInvalidUTF8(_ bytes: ArraySlice<UInt8>) -> Int? {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }
}
