/// The grid of modules being built: function patterns (finders, timing, alignment, format
/// and version information) first, then the codewords in the zigzag order of
/// ISO/IEC 18004, 7.7.3. Coordinates are (x: column, y: row) with (0, 0) top left.
struct ModuleMatrix {
    let version: Int
    let size: Int
    /// Row-major, true = dark.
    private(set) var modules: [Bool]
    /// Which modules belong to function patterns: data placement and masking skip them.
    private(set) var isFunction: [Bool]

    /// A matrix with every function pattern drawn and the format area reserved.
    init(version: Int) {
        self.version = version
        size = VersionTable.size(of: version)
        modules = Array(repeating: false, count: size * size)
        isFunction = Array(repeating: false, count: size * size)
        drawFunctionPatterns()
    }

    subscript(x: Int, y: Int) -> Bool { modules[y * size + x] }

    func isFunctionModule(x: Int, y: Int) -> Bool { isFunction[y * size + x] }

    private mutating func setFunctionModule(x: Int, y: Int, dark: Bool) {
        modules[y * size + x] = dark
        isFunction[y * size + x] = true
    }

    // MARK: Function patterns

    private mutating func drawFunctionPatterns() {
        // Timing patterns first: finders and alignment patterns overwrite their ends.
        for i in 0..<size {
            setFunctionModule(x: 6, y: i, dark: i % 2 == 0)
            setFunctionModule(x: i, y: 6, dark: i % 2 == 0)
        }

        drawFinderPattern(centerX: 3, centerY: 3)
        drawFinderPattern(centerX: size - 4, centerY: 3)
        drawFinderPattern(centerX: 3, centerY: size - 4)

        let centers = VersionTable.alignmentPatternCenters(version: version)
        let last = centers.count - 1
        for (i, x) in centers.enumerated() {
            for (j, y) in centers.enumerated() {
                // The three corners that coincide with finder patterns get none.
                let onFinder = (i == 0 && j == 0) || (i == 0 && j == last) || (i == last && j == 0)
                if !onFinder { drawAlignmentPattern(centerX: x, centerY: y) }
            }
        }

        // Reserve the format areas now (real bits come with the mask) so data skips them.
        drawFormatInformation(level: .medium, mask: 0)
        if version >= 7 { drawVersionInformation() }
    }

    /// A 7x7 finder (dark ring, light ring, dark 3x3 core) plus its light separator, clipped
    /// at the symbol's edge.
    private mutating func drawFinderPattern(centerX: Int, centerY: Int) {
        for dy in -4...4 {
            for dx in -4...4 {
                let x = centerX + dx, y = centerY + dy
                guard (0..<size).contains(x), (0..<size).contains(y) else { continue }
                let ring = max(abs(dx), abs(dy))
                setFunctionModule(x: x, y: y, dark: ring != 2 && ring != 4)
            }
        }
    }

    /// A 5x5 alignment pattern: dark ring, light ring, dark centre.
    private mutating func drawAlignmentPattern(centerX: Int, centerY: Int) {
        for dy in -2...2 {
            for dx in -2...2 {
                setFunctionModule(x: centerX + dx, y: centerY + dy, dark: max(abs(dx), abs(dy)) != 1)
            }
        }
    }

    /// Both copies of the 15 format bits, bit 0 being the least significant, plus the
    /// always-dark module beside the bottom-left finder.
    mutating func drawFormatInformation(level: QRCode.ErrorCorrection, mask: Int) {
        let bits = FormatInformation.bits(level: level, mask: mask)
        func bit(_ i: Int) -> Bool { (bits >> i) & 1 == 1 }

        // First copy, around the top-left finder: down column 8, then left along row 8,
        // stepping over the timing pattern at row/column 6.
        for i in 0...5 { setFunctionModule(x: 8, y: i, dark: bit(i)) }
        setFunctionModule(x: 8, y: 7, dark: bit(6))
        setFunctionModule(x: 8, y: 8, dark: bit(7))
        setFunctionModule(x: 7, y: 8, dark: bit(8))
        for i in 9..<15 { setFunctionModule(x: 14 - i, y: 8, dark: bit(i)) }

        // Second copy, split between the top-right and bottom-left finders.
        for i in 0..<8 { setFunctionModule(x: size - 1 - i, y: 8, dark: bit(i)) }
        for i in 8..<15 { setFunctionModule(x: 8, y: size - 15 + i, dark: bit(i)) }
        setFunctionModule(x: 8, y: size - 8, dark: true)
    }

    /// Both 6x3 copies of the 18 version bits (versions 7 and up), beside the top-right
    /// and bottom-left finders; one copy is the other's transpose.
    private mutating func drawVersionInformation() {
        let bits = FormatInformation.versionBits(version)
        for i in 0..<18 {
            let dark = (bits >> i) & 1 == 1
            let a = size - 11 + i % 3
            let b = i / 3
            setFunctionModule(x: a, y: b, dark: dark)
            setFunctionModule(x: b, y: a, dark: dark)
        }
    }

    // MARK: Data

    /// Places the codewords, most significant bit first, in two-module-wide columns that
    /// zigzag up and down from the bottom-right corner, skipping function modules and the
    /// vertical timing column. Modules left over (remainder bits) stay light.
    mutating func placeCodewords(_ codewords: [UInt8]) {
        let bitCount = codewords.count * 8
        var bitIndex = 0
        var right = size - 1
        while right >= 1 {
            if right == 6 { right = 5 }  // column 6 is the timing pattern
            let upward = (right + 1) & 2 == 0
            for step in 0..<size {
                let y = upward ? size - 1 - step : step
                for x in [right, right - 1] where !isFunction[y * size + x] && bitIndex < bitCount {
                    let byte = codewords[bitIndex >> 3]
                    modules[y * size + x] = (byte >> (7 - UInt8(bitIndex & 7))) & 1 == 1
                    bitIndex += 1
                }
            }
            right -= 2
        }
    }

    /// Flips every non-function module where the mask's condition holds; applying the same
    /// mask twice restores the matrix.
    mutating func applyMask(_ mask: Int) {
        for y in 0..<size {
            for x in 0..<size where !isFunction[y * size + x] && Mask.isFlipped(mask, x: x, y: y) {
                modules[y * size + x].toggle()
            }
        }
    }
}

/// The BCH-protected format and version information words (ISO/IEC 18004, 7.9 and 7.10).
enum FormatInformation {
    /// 15 bits: 2 bits EC level, 3 bits mask, 10 bits BCH(15,5) remainder, XORed with
    /// 0x5412 so that no format word is all zeros.
    static func bits(level: QRCode.ErrorCorrection, mask: Int) -> Int {
        let data = level.formatBits << 3 | mask
        return (data << 10 | bchRemainder(data, generator: 0x537, degree: 10)) ^ 0x5412
    }

    /// 18 bits: 6 bits version, 12 bits BCH(18,6) remainder (no XOR mask).
    static func versionBits(_ version: Int) -> Int {
        version << 12 | bchRemainder(version, generator: 0x1F25, degree: 12)
    }

    /// Remainder of value·x^degree divided by the generator polynomial over GF(2), whose
    /// highest term is x^degree: long division, clearing the top set bit each round.
    private static func bchRemainder(_ value: Int, generator: Int, degree: Int) -> Int {
        var remainder = value << degree
        while true {
            let topBit = Int.bitWidth - 1 - remainder.leadingZeroBitCount
            if topBit < degree { return remainder }
            remainder ^= generator << (topBit - degree)
        }
    }
}
