/// Per-version facts of the QR code symbology (ISO/IEC 18004): how many modules carry data,
/// how the codewords split into Reed-Solomon blocks, and where alignment patterns sit.
enum VersionTable {
    static let versions = 1...40

    /// Modules per side: 21 for version 1, growing by 4 per version up to 177.
    static func size(of version: Int) -> Int { version * 4 + 17 }

    /// EC codewords per block, indexed `[level.tableIndex][version]` (standard's table 9;
    /// index 0 is unused so that versions index directly).
    private static let ecCodewordsPerBlock: [[Int]] = [
        [0, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28, 28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
        [0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
        [0, 13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30, 28, 30, 30, 30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
        [0, 17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28, 30, 24, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
    ]

    /// Number of Reed-Solomon blocks, indexed `[level.tableIndex][version]` (standard's table 9).
    private static let blockCounts: [[Int]] = [
        [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8, 8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25],
        [0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49],
        [0, 1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20, 23, 23, 25, 27, 29, 34, 34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68],
        [0, 1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25, 25, 34, 30, 32, 35, 37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81],
    ]

    static func ecCodewordsPerBlock(version: Int, level: QRCode.ErrorCorrection) -> Int {
        ecCodewordsPerBlock[level.tableIndex][version]
    }

    static func blockCount(version: Int, level: QRCode.ErrorCorrection) -> Int {
        blockCounts[level.tableIndex][version]
    }

    /// Modules left for codewords once finder, separator, timing, alignment, format and
    /// version areas are taken. Not always a multiple of 8: the leftover "remainder bits"
    /// stay light before masking.
    static func rawDataModules(version: Int) -> Int {
        let size = size(of: version)
        var modules = size * size
        modules -= 3 * 8 * 8                 // three finders with their separators
        modules -= 2 * (size - 16)           // timing patterns between the finders
        modules -= 2 * 15 + 1                // two copies of format information, dark module
        let alignmentCount = alignmentPatternCenters(version: version).count
        if alignmentCount > 0 {
            let placed = alignmentCount * alignmentCount - 3     // minus those on the finders
            let onTiming = 2 * (alignmentCount - 2)              // 5 modules each already counted as timing
            modules -= placed * 25 - onTiming * 5
        }
        if version >= 7 { modules -= 2 * 18 }                   // two copies of version information
        return modules
    }

    /// All codewords (data plus EC) that fit in the symbol.
    static func totalCodewords(version: Int) -> Int { rawDataModules(version: version) / 8 }

    static func dataCodewords(version: Int, level: QRCode.ErrorCorrection) -> Int {
        totalCodewords(version: version)
            - ecCodewordsPerBlock(version: version, level: level) * blockCount(version: version, level: level)
    }

    /// Row/column coordinates of alignment pattern centres; patterns go at every pair of
    /// them except the three that would overlap the finders. Version 1 has none.
    ///
    /// The standard lists these in a table (annex E) that follows a rule: the first is 6,
    /// the last is size - 7, and the rest step back from the last by an even spacing,
    /// any slack going into the first gap. The spacing formula below reproduces every row
    /// of that table (the tests compare against several rows).
    static func alignmentPatternCenters(version: Int) -> [Int] {
        if version == 1 { return [] }
        let count = version / 7 + 2
        let last = size(of: version) - 7
        let step = (version * 8 + count * 3 + 5) / (count * 4 - 4) * 2
        var centers = [6]
        for i in stride(from: count - 2, through: 0, by: -1) {
            centers.append(last - i * step)
        }
        return centers
    }

    /// Bits of the byte-mode character count indicator: 8 up to version 9, 16 after.
    static func byteCountBits(version: Int) -> Int { version <= 9 ? 8 : 16 }
}

extension QRCode.ErrorCorrection {
    /// Row in the EC tables (the standard's L, M, Q, H order).
    var tableIndex: Int {
        switch self {
        case .low: 0
        case .medium: 1
        case .quartile: 2
        case .high: 3
        }
    }

    /// The two bits that encode the level in the format information; not in L, M, Q, H order.
    var formatBits: Int {
        switch self {
        case .low: 0b01
        case .medium: 0b00
        case .quartile: 0b11
        case .high: 0b10
        }
    }
}
