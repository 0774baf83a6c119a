import Testing
@testable import QRCode

@Suite("Terminal and SVG renderers")
struct RenderingTests {
    static func joinLinkCode() throws -> QRCode { try QRCode("http://192.168.1.23:8080/c/K7QP") }

    /// Decodes half-block text back into a grid of painted cells (two rows per line).
    static func paintedCells(_ text: String) -> [[Bool]] {
        var rows: [[Bool]] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var top: [Bool] = [], bottom: [Bool] = []
            for character in line {
                top.append(character == "█" || character == "▀")
                bottom.append(character == "█" || character == "▄")
            }
            rows.append(top)
            rows.append(bottom)
        }
        return rows
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func terminalRoundTrip(invert: Bool, fullQuietZone: Bool) throws {
        let code = try Self.joinLinkCode()
        let text = code.terminalString(invert: invert, fullQuietZone: fullQuietZone)
        let quiet = fullQuietZone ? 4 : 2
        let span = code.size + 2 * quiet

        #expect(text.unicodeScalars.allSatisfy { "█▀▄ \n".unicodeScalars.contains($0) })
        #expect(!text.hasSuffix("\n"))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == (span + 1) / 2)
        #expect(lines.allSatisfy { $0.count == span })

        let cells = Self.paintedCells(text)
        for y in 0..<span {
            for x in 0..<span {
                // Painted means light by default, dark when inverted; the quiet zone is light.
                let dark = code[x - quiet, y - quiet]
                #expect(cells[y][x] == (dark == invert), "cell (\(x), \(y))")
            }
        }
        // The half row below the picture (the span is odd) is never painted.
        #expect(cells[span].allSatisfy { !$0 })
    }

    @Test func halfBlocksForTheTopLeftFinder() throws {
        let code = try Self.joinLinkCode()
        // Line 1 shows rows 2 and 3: the finder's dark top edge over its "1000001" row.
        let lines = code.terminalString().split(separator: "\n")
        #expect(lines[0].allSatisfy { $0 == "█" })             // quiet zone, painted light
        #expect(lines[1].hasPrefix("██ ▄▄▄▄▄ "))
        let inverted = code.terminalString(invert: true).split(separator: "\n")
        #expect(inverted[0].allSatisfy { $0 == " " })
        #expect(inverted[1].hasPrefix("  █▀▀▀▀▀█"))
    }

    @Test func svgHeaderAndRoundTrip() throws {
        let code = try Self.joinLinkCode()
        let svg = code.svg(moduleSize: 5)
        let span = code.size + 8
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(svg.contains("width=\"\(span * 5)\" height=\"\(span * 5)\""))
        #expect(svg.contains("viewBox=\"0 0 \(span) \(span)\""))
        #expect(svg.contains("shape-rendering=\"crispEdges\""))
        #expect(svg.contains("<rect width=\"\(span)\" height=\"\(span)\" fill=\"#fff\"/>"))
        #expect(svg.ranges(of: "<path").count == 1)

        // Rebuild the module grid from the path's horizontal runs "Mx,yhWv1h-Wz".
        let pathStart = try #require(svg.firstRange(of: " d=\""))
        let pathData = svg[pathStart.upperBound...].prefix { $0 != "\"" }
        var dark = Array(repeating: Array(repeating: false, count: span), count: span)
        var runs = 0
        for run in pathData.split(separator: "M") {
            let numbers = run.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            try #require(numbers.count == 5 && numbers[2] == numbers[4] && numbers[3] == 1, "bad run \(run)")
            let (x, y, width) = (numbers[0], numbers[1], numbers[2])
            for column in x..<(x + width) {
                #expect(!dark[y][column], "runs overlap at (\(column), \(y))")
                dark[y][column] = true
            }
            runs += 1
        }
        for y in 0..<span {
            for x in 0..<span {
                #expect(dark[y][x] == code[x - 4, y - 4], "module (\(x - 4), \(y - 4))")
            }
        }
        // One rectangle per run, not per module.
        #expect(runs < code.size * code.size / 2)
    }

    @Test func svgModuleSizeIsClamped() throws {
        let code = try Self.joinLinkCode()
        let span = code.size + 8
        #expect(code.svg(moduleSize: 0).contains("width=\"\(span)\""))
        #expect(code.svg(moduleSize: -3).contains("width=\"\(span)\""))
        #expect(code.svg(moduleSize: Int.max).contains("width=\"\(span * 1000)\""))
    }

    @Test func subscriptOutsideTheSymbolIsLight() throws {
        let code = try Self.joinLinkCode()
        #expect(!code[-1, 0])
        #expect(!code[0, code.size])
        #expect(!code[Int.min, Int.max])
        #expect(code[0, 0])
    }
}
