import Testing
@testable import QRCode

@Suite("Format, version and capacity tables")
struct TablesTests {
    /// ISO/IEC 18004:2015 table C.1, masks 0...7 for each level.
    @Test(arguments: [
        (QRCode.ErrorCorrection.low, [0x77C4, 0x72F3, 0x7DAA, 0x789D, 0x662F, 0x6318, 0x6C41, 0x6976]),
        (.medium, [0x5412, 0x5125, 0x5E7C, 0x5B4B, 0x45F9, 0x40CE, 0x4F97, 0x4AA0]),
        (.quartile, [0x355F, 0x3068, 0x3F31, 0x3A06, 0x24B4, 0x2183, 0x2EDA, 0x2BED]),
        (.high, [0x1689, 0x13BE, 0x1CE7, 0x19D0, 0x0762, 0x0255, 0x0D0C, 0x083B]),
    ])
    func formatInformation(level: QRCode.ErrorCorrection, expected: [Int]) {
        #expect(Mask.all.map { FormatInformation.bits(level: level, mask: $0) } == expected)
    }

    /// ISO/IEC 18004:2015 table D.1, versions 7...40.
    @Test func versionInformation() {
        let expected = [
            0x07C94, 0x085BC, 0x09A99, 0x0A4D3, 0x0BBF6, 0x0C762, 0x0D847, 0x0E60D,
            0x0F928, 0x10B78, 0x1145D, 0x12A17, 0x13532, 0x149A6, 0x15683, 0x168C9,
            0x177EC, 0x18EC4, 0x191E1, 0x1AFAB, 0x1B08E, 0x1CC1A, 0x1D33F, 0x1ED75,
            0x1F250, 0x209D5, 0x216F0, 0x228BA, 0x2379F, 0x24B0B, 0x2542E, 0x26A64,
            0x27541, 0x28C69,
        ]
        #expect((7...40).map(FormatInformation.versionBits) == expected)
    }

    /// Rows of the standard's annex E table, including version 32, whose spacing is the odd one.
    @Test(arguments: [
        (1, []),
        (2, [6, 18]),
        (6, [6, 34]),
        (7, [6, 22, 38]),
        (14, [6, 26, 46, 66]),
        (22, [6, 26, 50, 74, 98]),
        (32, [6, 34, 60, 86, 112, 138]),
        (36, [6, 24, 50, 76, 102, 128, 154]),
        (39, [6, 26, 54, 82, 110, 138, 166]),
        (40, [6, 30, 58, 86, 114, 142, 170]),
    ])
    func alignmentPatternCenters(version: Int, expected: [Int]) {
        #expect(VersionTable.alignmentPatternCenters(version: version) == expected)
    }

    /// Total codewords and remainder bits from the standard's table 1.
    @Test(arguments: [(1, 26, 0), (2, 44, 7), (6, 172, 7), (7, 196, 0), (14, 581, 3), (21, 1156, 4), (28, 1921, 3), (40, 3706, 0)])
    func codewordCounts(version: Int, codewords: Int, remainderBits: Int) {
        #expect(VersionTable.totalCodewords(version: version) == codewords)
        #expect(VersionTable.rawDataModules(version: version) % 8 == remainderBits)
    }

    /// Byte-mode capacities from the standard's table 7.
    @Test(arguments: [
        (1, QRCode.ErrorCorrection.low, 17), (1, .medium, 14), (1, .quartile, 11), (1, .high, 7),
        (9, .low, 230), (10, .low, 271), (10, .high, 119),
        (40, .low, 2953), (40, .medium, 2331), (40, .quartile, 1663), (40, .high, 1273),
    ])
    func byteCapacity(version: Int, level: QRCode.ErrorCorrection, capacity: Int) {
        #expect(DataEncoding.smallestVersion(byteCount: capacity, level: level) == version)
        let next = DataEncoding.smallestVersion(byteCount: capacity + 1, level: level)
        #expect(next.map { $0 > version } ?? (version == 40))
    }

    @Test func maximumByteCountIsVersion40Capacity() {
        #expect(QRCode.ErrorCorrection.allCases.map(DataEncoding.maximumByteCount) == [2953, 2331, 1663, 1273])
    }
}
