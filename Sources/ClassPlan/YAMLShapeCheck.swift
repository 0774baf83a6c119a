// A pass over libyaml's event stream before Yams builds a tree.
//
// Yams.compose resolves aliases while it builds the tree and hashes mapping keys to find
// duplicates, so an alias bomb used as a key costs exponential time before we ever see a node;
// it also recurses once per nesting level. Walking the flat event stream first lets us refuse
// anchors/aliases, deep nesting and huge node counts in linear time, with exact positions.
// CYaml is the libyaml copy that Yams itself is built on (a dependency of our Yams dependency).

import CYaml

enum YAMLShapeCheck {
    static let maxDepth = 12
    static let maxNodes = 50_000

    struct Problem: Error, Equatable {
        var line: Int
        var column: Int
        var message: String
    }

    /// nil when the text is one well-formed YAML document within the limits.
    static func check(_ text: String) -> Problem? {
        var bytes = Array(text.utf8)
        if bytes.isEmpty { bytes = [0x0A] }  // libyaml needs a non-null buffer pointer
        return bytes.withUnsafeMutableBufferPointer { buffer -> Problem? in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else {
                return Problem(line: 0, column: 0, message: "out of memory while reading YAML")
            }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            return scan(&parser, text: text)
        }
    }

    private static func scan(_ parser: inout yaml_parser_t, text: String) -> Problem? {
        var depth = 0
        var nodes = 0
        var documents = 0
        while true {
            var event = yaml_event_t()
            guard yaml_parser_parse(&parser, &event) == 1 else {
                return syntaxProblem(parser, text: text)
            }
            defer { yaml_event_delete(&event) }
            let mark = (line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_DOCUMENT_START_EVENT:
                documents += 1
                if documents > 1 {
                    return Problem(line: mark.line, column: mark.column,
                                   message: "a plan file holds one document; remove the second '---' and what follows")
                }
            case YAML_ALIAS_EVENT:
                return Problem(line: mark.line, column: mark.column,
                               message: "aliases (*name) are not allowed in plan files; write the value out")
            case YAML_SCALAR_EVENT, YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                let anchor: UnsafeMutablePointer<yaml_char_t>?
                switch event.type {
                case YAML_SCALAR_EVENT: anchor = event.data.scalar.anchor
                case YAML_SEQUENCE_START_EVENT: anchor = event.data.sequence_start.anchor
                default: anchor = event.data.mapping_start.anchor
                }
                if anchor != nil {
                    return Problem(line: mark.line, column: mark.column,
                                   message: "anchors (&name) are not allowed in plan files; write each value out")
                }
                nodes += 1
                if nodes > maxNodes {
                    return Problem(line: mark.line, column: mark.column,
                                   message: "the file has more than \(maxNodes) values; a plan is much smaller")
                }
                if event.type != YAML_SCALAR_EVENT {
                    depth += 1
                    if depth > maxDepth {
                        return Problem(line: mark.line, column: mark.column,
                                       message: "values are nested more than \(maxDepth) levels deep; a plan needs at most 4")
                    }
                }
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                depth -= 1
            default:
                break
            }
        }
    }

    private static func syntaxProblem(_ parser: yaml_parser_t, text: String) -> Problem {
        let problem = parser.problem.map { String(cString: $0) } ?? "unreadable YAML"
        if parser.error == YAML_READER_ERROR {
            let (line, column) = Diagnostic.position(ofByte: parser.problem_offset, in: text.utf8)
            return Problem(line: line, column: column, message: "YAML cannot read this text: \(problem)")
        }
        let line = Int(parser.problem_mark.line) + 1
        let column = Int(parser.problem_mark.column) + 1
        var message = "YAML syntax: \(problem)"
        if let context = parser.context.map({ String(cString: $0) }) {
            message += " (\(context) at line \(Int(parser.context_mark.line) + 1))"
        }
        if character(atLine: line, column: column, in: text) == "\t" {
            message += "; YAML does not allow tabs for indentation, use spaces"
        }
        return Problem(line: line, column: column, message: message)
    }

    private static func character(atLine line: Int, column: Int, in text: String) -> Character? {
        let lines = text.split(separator: "\n", maxSplits: line, omittingEmptySubsequences: false)
        guard line >= 1, line <= lines.count else { return nil }
        let chars = Array(lines[line - 1].unicodeScalars)
        guard column >= 1, column <= chars.count else { return nil }
        return Character(chars[column - 1])
    }
}
