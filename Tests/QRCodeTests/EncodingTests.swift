import Testing
@testable import QRCode

@Suite("Data codewords and version selection")
struct EncodingTests {
    @Test func byteSegmentWithTerminatorAndPadding() {
        // 0100 (byte mode) 00000001 (count) 01100001 ('a') 0000 (terminator), then pad bytes.
        let data = DataEncoding.dataCodewords(for: Array("a".utf8), version: 1, level: .medium)
        #expect(data == [0x40, 0x16, 0x10] + [0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC])
    }

    @Test func sixteenBitCountFromVersion10() {
        // 300 bytes need version 11-L, and a count that does not fit in 8 bits.
        let bytes = [UInt8](repeating: 0x41, count: 300)
        #expect(DataEncoding.smallestVersion(byteCount: 300, level: .low) == 11)
        let data = DataEncoding.dataCodewords(for: bytes, version: 11, level: .low)
        // 0100, then 300 = 0x012C in 16 bits, then 0x41 bytes shifted by four bits.
        #expect(Array(data.prefix(4)) == [0x40, 0x12, 0xC4, 0x14])
        #expect(data.count == VersionTable.dataCodewords(version: 11, level: .low))
    }

    @Test func fullSymbolGetsNoPadBytes() {
        // 14 bytes fill version 1-M: 4 + 8 + 112 bits leave room for the terminator only.
        let bytes = Array("ABCDEFGHIJKLMN".utf8)
        let data = DataEncoding.dataCodewords(for: bytes, version: 1, level: .medium)
        #expect(data.count == 16)
        #expect(data.last == (UInt8(ascii: "N") & 0x0F) << 4)
        #expect(!data.suffix(2).contains(0xEC))
    }

    @Test func blocksAreInterleaved() {
        // Version 5-Q: two blocks of 15 data bytes, then two of 16; 18 EC bytes each.
        let data = (0..<62).map { UInt8($0) }
        let codewords = DataEncoding.interleavedCodewords(data: data, version: 5, level: .quartile)
        #expect(codewords.count == 134)
        #expect(Array(codewords.prefix(8)) == [0, 15, 30, 46, 1, 16, 31, 47])
        // Only the longer blocks have a 16th byte; it closes the data part.
        #expect(Array(codewords[56..<62]) == [14, 29, 44, 60, 45, 61])
        let firstBlockEC = ReedSolomon.errorCorrection(for: Array(data[0..<15]), generator: ReedSolomon.generator(degree: 18))
        let lastBlockEC = ReedSolomon.errorCorrection(for: Array(data[46..<62]), generator: ReedSolomon.generator(degree: 18))
        #expect(codewords[62] == firstBlockEC[0])
        #expect(codewords[65] == lastBlockEC[0])
        #expect(codewords[133] == lastBlockEC[17])
    }

    @Test func version1MHolds14BytesAnd15NeedVersion2() throws {
        #expect(try QRCode(String(repeating: "x", count: 14)).version == 1)
        #expect(try QRCode(String(repeating: "x", count: 15)).version == 2)
        // Capacity counts UTF-8 bytes, not characters: "é" is two bytes.
        #expect(try QRCode(String(repeating: "é", count: 7)).version == 1)
        #expect(try QRCode(String(repeating: "é", count: 7) + "x").version == 2)
    }

    @Test func version40LHolds2953Bytes() throws {
        let code = try QRCode(String(repeating: "x", count: 2953), errorCorrection: .low)
        #expect(code.version == 40)
        #expect(code.size == 177)
        #expect(throws: QRCodeError.tooLong(byteCount: 2954, maximum: 2953)) {
            try QRCode(String(repeating: "x", count: 2954), errorCorrection: .low)
        }
        #expect(throws: QRCodeError.tooLong(byteCount: 1274, maximum: 1273)) {
            try QRCode(String(repeating: "x", count: 1274), errorCorrection: .high)
        }
    }

    @Test func tooLongErrorExplainsItself() {
        let error = QRCodeError.tooLong(byteCount: 3000, maximum: 2331)
        #expect(error.description.contains("3000"))
        #expect(error.description.contains("2331"))
    }

    @Test func emptyTextIsAValidVersion1Symbol() throws {
        let code = try QRCode("")
        #expect(code.version == 1)
        #expect(code.size == 21)
    }

    @Test func higherLevelsNeedLargerSymbols() throws {
        let link = "https://retro.example.org/c/K7QP"
        let versions = try QRCode.ErrorCorrection.allCases.map { try QRCode(link, errorCorrection: $0).version }
        #expect(versions == [2, 3, 3, 4])
    }
}
