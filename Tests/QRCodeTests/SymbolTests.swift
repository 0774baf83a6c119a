import Testing
@testable import QRCode

@Suite("Symbol structure, masking and known output")
struct SymbolTests {
    static let joinLink = "http://192.168.1.23:8080/c/K7QP"

    /// The join link at level M as produced, bit for bit, by an independent encoder (Project
    /// Nayuki's qrcodegen, which also picks mask 0 here): version 3, 29x29.
    static let joinLinkModules = [
        "11111110000100100101101111111",
        "10000010111011000101001000001",
        "10111010000010010010101011101",
        "10111010011001001001101011101",
        "10111010110101001001101011101",
        "10000010000010111101001000001",
        "11111110101010101010101111111",
        "00000000000110010101000000000",
        "10101010010000001111000010010",
        "01110001111001011000001101001",
        "11011011101000111100111110111",
        "01000000010101101110011101010",
        "11101111001010110101001101011",
        "01101100010110110100001101101",
        "10011111111001000110000000011",
        "01011000100110010110010011010",
        "00000111101110001110001000011",
        "00010000100101011000011100101",
        "10111010011110111100110001011",
        "01100001000001101110011101010",
        "10011110001100111000111110000",
        "00000000111010110000100010111",
        "11111110011011001111101011011",
        "10000010000000010111100011001",
        "10111010101010000110111111010",
        "10111010010011011111110011000",
        "10111010110100100101010011101",
        "10000010000001010111110001010",
        "11111110111001100000111001011",
    ]

    static func rows(of code: QRCode) -> [String] {
        (0..<code.size).map { y in String((0..<code.size).map { code[$0, y] ? "1" : "0" }) }
    }

    @Test func joinLinkMatchesIndependentEncoder() throws {
        let code = try QRCode(Self.joinLink)
        #expect(code.version == 3)
        #expect(code.mask == 0)
        #expect(Self.rows(of: code) == Self.joinLinkModules)
    }

    @Test func outputIsDeterministic() throws {
        let first = try QRCode(Self.joinLink, errorCorrection: .quartile)
        let second = try QRCode(Self.joinLink, errorCorrection: .quartile)
        #expect(Self.rows(of: first) == Self.rows(of: second))
        #expect(first.svg() == second.svg())
        #expect(first.terminalString() == second.terminalString())
        // ...and depends on the text.
        #expect(Self.rows(of: try QRCode(Self.joinLink + "X", errorCorrection: .quartile)) != Self.rows(of: first))
    }

    static let samples: [(String, QRCode.ErrorCorrection)] = [
        ("a", .low), (joinLink, .medium), ("https://retro.example.org/c/K7QP?lang=de", .high),
        (String(repeating: "Rückwärts laufen! ", count: 12), .quartile),
        (String(repeating: "0123456789", count: 100), .medium),
    ]

    @Test(arguments: samples)
    func finderPatternsAtThreeCorners(text: String, level: QRCode.ErrorCorrection) throws {
        let code = try QRCode(text, errorCorrection: level)
        #expect(code.size == code.version * 4 + 17)
        for (left, top) in [(0, 0), (code.size - 7, 0), (0, code.size - 7)] {
            // 7x7: dark ring, light ring, dark 3x3 core.
            for dy in 0..<7 {
                for dx in 0..<7 {
                    let ring = max(abs(dx - 3), abs(dy - 3))
                    #expect(code[left + dx, top + dy] == (ring != 2), "finder at (\(left), \(top))")
                }
            }
            // The light separator around it, where it lies inside the symbol.
            for i in -1...7 {
                for (x, y) in [(left + i, top - 1), (left + i, top + 7), (left - 1, top + i), (left + 7, top + i)]
                where (0..<code.size).contains(x) && (0..<code.size).contains(y) {
                    #expect(!code[x, y], "separator at (\(x), \(y))")
                }
            }
        }
    }

    @Test(arguments: samples)
    func timingPatternsAlternateAndDarkModuleIsSet(text: String, level: QRCode.ErrorCorrection) throws {
        let code = try QRCode(text, errorCorrection: level)
        for i in 8..<(code.size - 8) {
            #expect(code[i, 6] == (i % 2 == 0), "horizontal timing at \(i)")
            #expect(code[6, i] == (i % 2 == 0), "vertical timing at \(i)")
        }
        #expect(code[8, 4 * code.version + 9])
    }

    @Test(arguments: samples)
    func formatInformationReadsBackFromBothCopies(text: String, level: QRCode.ErrorCorrection) throws {
        let code = try QRCode(text, errorCorrection: level)
        let size = code.size
        // Bit positions from the standard's figure 25, least significant bit first.
        let firstCopy: [(Int, Int)] = (0...5).map { (8, $0) } + [(8, 7), (8, 8), (7, 8)] + (9..<15).map { (14 - $0, 8) }
        let secondCopy: [(Int, Int)] = (0..<8).map { (size - 1 - $0, 8) } + (8..<15).map { (8, size - 15 + $0) }
        func read(_ positions: [(Int, Int)]) -> Int {
            positions.enumerated().reduce(0) { word, entry in word | (code[entry.element.0, entry.element.1] ? 1 << entry.offset : 0) }
        }
        let expected = FormatInformation.bits(level: level, mask: code.mask)
        #expect(read(firstCopy) == expected)
        #expect(read(secondCopy) == expected)
    }

    @Test func versionInformationAndAlignmentPatternsFromVersion7() throws {
        let code = try QRCode(String(repeating: "x", count: 170), errorCorrection: .medium)
        #expect(code.version == 9)
        var topRight = 0, bottomLeft = 0
        for i in 0..<18 {
            let a = code.size - 11 + i % 3, b = i / 3
            if code[a, b] { topRight |= 1 << i }
            if code[b, a] { bottomLeft |= 1 << i }
        }
        #expect(topRight == 0x09A99)
        #expect(bottomLeft == 0x09A99)
        // Version 9 has alignment centres 6, 26, 46: six patterns besides the finder corners.
        for (x, y) in [(26, 6), (6, 26), (26, 26), (46, 26), (26, 46), (46, 46)] {
            #expect(code[x, y] && !code[x + 1, y] && !code[x, y - 1] && code[x + 2, y + 2] && code[x - 2, y + 1])
        }
    }

    @Test func maskFlipsOnlyDataModulesAndIsItsOwnInverse() {
        var matrix = ModuleMatrix(version: 7)
        matrix.placeCodewords((0..<196).map { UInt8(truncatingIfNeeded: $0 &* 37) })
        let original = matrix
        matrix.applyMask(4)
        for y in 0..<matrix.size {
            for x in 0..<matrix.size {
                let flipped = !matrix.isFunctionModule(x: x, y: y) && Mask.isFlipped(4, x: x, y: y)
                #expect(matrix[x, y] == (original[x, y] != flipped))
            }
        }
        matrix.applyMask(4)
        #expect(matrix.modules == original.modules)
    }

    @Test func maskConditionsFromTheStandard() {
        // (x, y) = (column, row); values worked out by hand from table 10.
        #expect(Mask.isFlipped(0, x: 1, y: 1) && !Mask.isFlipped(0, x: 1, y: 0))
        #expect(Mask.isFlipped(1, x: 5, y: 2) && !Mask.isFlipped(1, x: 2, y: 5))
        #expect(Mask.isFlipped(2, x: 3, y: 1) && !Mask.isFlipped(2, x: 1, y: 3))
        #expect(Mask.isFlipped(3, x: 1, y: 2) && !Mask.isFlipped(3, x: 1, y: 1))
        #expect(Mask.isFlipped(4, x: 3, y: 2) && !Mask.isFlipped(4, x: 2, y: 3))
        #expect(Mask.isFlipped(5, x: 6, y: 1) && !Mask.isFlipped(5, x: 1, y: 1))
        #expect(Mask.isFlipped(6, x: 2, y: 1) && !Mask.isFlipped(6, x: 5, y: 1))
        #expect(Mask.isFlipped(7, x: 0, y: 0) && !Mask.isFlipped(7, x: 1, y: 1))
    }

    @Test func chosenMaskHasTheLowestPenalty() throws {
        let text = "https://retro.example.org/c/K7QP?lang=de"
        let code = try QRCode(text)
        let data = DataEncoding.dataCodewords(for: Array(text.utf8), version: code.version, level: .medium)
        var matrix = ModuleMatrix(version: code.version)
        matrix.placeCodewords(DataEncoding.interleavedCodewords(data: data, version: code.version, level: .medium))
        let penalties = Mask.all.map { mask in
            var candidate = matrix
            candidate.applyMask(mask)
            candidate.drawFormatInformation(level: .medium, mask: mask)
            return Penalty.score(candidate)
        }
        #expect(Set(penalties).count > 1)
        #expect(penalties.firstIndex(of: penalties.min() ?? -1) == code.mask)
    }

    @Test func penaltyRules() {
        func line(_ pattern: String) -> [Bool] { pattern.map { $0 == "1" } }
        // N1: 3 for a run of five, one more per extra module; shorter runs are free.
        #expect(Penalty.runPenalty(line("0000")) == 0)
        #expect(Penalty.runPenalty(line("11111")) == 3)
        #expect(Penalty.runPenalty(line("1111110")) == 4)
        #expect(Penalty.runPenalty(line("00000100000")) == 6)
        // N3: the 1:1:3:1:1 core with four light modules before or after (outside is light).
        #expect(Penalty.finderLikePenalty(line("00001011101001")) == 40)
        #expect(Penalty.finderLikePenalty(line("1011101")) == 80)
        #expect(Penalty.finderLikePenalty(line("1101110100001")) == 40)
        #expect(Penalty.finderLikePenalty(line("110111011")) == 0)
        #expect(Penalty.finderLikePenalty(line("110111010001")) == 0)
    }
}
