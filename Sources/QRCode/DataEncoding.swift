/// Turning the text into the final codeword sequence: one byte-mode segment, terminator and
/// padding (ISO/IEC 18004, 7.4), then Reed-Solomon blocks interleaved (7.5–7.6).
enum DataEncoding {
    /// Byte mode's 4-bit mode indicator.
    static let byteModeIndicator = 0b0100

    /// Bits a byte-mode segment of `byteCount` bytes takes in `version`, or nil when the
    /// count does not fit the character count indicator (at most 255 below version 10).
    static func segmentBits(byteCount: Int, version: Int) -> Int? {
        let countBits = VersionTable.byteCountBits(version: version)
        guard byteCount < 1 << countBits else { return nil }
        return 4 + countBits + 8 * byteCount
    }

    /// The smallest version whose data capacity at `level` holds `byteCount` bytes, if any.
    static func smallestVersion(byteCount: Int, level: QRCode.ErrorCorrection) -> Int? {
        VersionTable.versions.first { version in
            guard let bits = segmentBits(byteCount: byteCount, version: version) else { return false }
            return bits <= VersionTable.dataCodewords(version: version, level: level) * 8
        }
    }

    /// The most bytes any version holds at `level` (version 40's byte-mode capacity).
    static func maximumByteCount(level: QRCode.ErrorCorrection) -> Int {
        let version = VersionTable.versions.upperBound
        let available = VersionTable.dataCodewords(version: version, level: level) * 8
        return (available - 4 - VersionTable.byteCountBits(version: version)) / 8
    }

    /// The data codewords: mode, count, bytes, terminator, zero bits to a byte boundary, then
    /// the alternating pad bytes 0xEC 0x11. The caller has checked that `bytes` fits.
    static func dataCodewords(for bytes: [UInt8], version: Int, level: QRCode.ErrorCorrection) -> [UInt8] {
        let capacityBits = VersionTable.dataCodewords(version: version, level: level) * 8
        var buffer = BitBuffer()
        buffer.append(byteModeIndicator, bitCount: 4)
        buffer.append(bytes.count, bitCount: VersionTable.byteCountBits(version: version))
        for byte in bytes { buffer.append(Int(byte), bitCount: 8) }
        // Up to four zero bits of terminator, fewer if the symbol is already full.
        buffer.append(0, bitCount: min(4, capacityBits - buffer.count))
        buffer.append(0, bitCount: (8 - buffer.count % 8) % 8)

        var codewords = buffer.bytes()
        let padBytes: [UInt8] = [0xEC, 0x11]
        var padIndex = 0
        while codewords.count * 8 < capacityBits {
            codewords.append(padBytes[padIndex])
            padIndex ^= 1
        }
        return codewords
    }

    /// Splits the data codewords into the version's blocks, appends each block's EC codewords
    /// and interleaves: first byte of every block, then second, …, then the EC bytes likewise.
    /// Interleaving spreads a local smudge on the symbol across blocks.
    static func interleavedCodewords(data: [UInt8], version: Int, level: QRCode.ErrorCorrection) -> [UInt8] {
        let blockCount = VersionTable.blockCount(version: version, level: level)
        let ecPerBlock = VersionTable.ecCodewordsPerBlock(version: version, level: level)
        let total = VersionTable.totalCodewords(version: version)
        // When the data does not divide evenly, the later blocks carry one byte more.
        let longBlocks = total % blockCount
        let shortBlocks = blockCount - longBlocks
        let shortDataLength = total / blockCount - ecPerBlock

        let generator = ReedSolomon.generator(degree: ecPerBlock)
        var dataBlocks: [[UInt8]] = []
        var ecBlocks: [[UInt8]] = []
        var offset = 0
        for index in 0..<blockCount {
            let length = shortDataLength + (index < shortBlocks ? 0 : 1)
            let block = Array(data[offset..<offset + length])
            offset += length
            dataBlocks.append(block)
            ecBlocks.append(ReedSolomon.errorCorrection(for: block, generator: generator))
        }

        var result: [UInt8] = []
        result.reserveCapacity(total)
        for i in 0...shortDataLength {
            for block in dataBlocks where i < block.count { result.append(block[i]) }
        }
        for i in 0..<ecPerBlock {
            for block in ecBlocks { result.append(block[i]) }
        }
        return result
    }
}

/// A growing sequence of bits, most significant bit first.
struct BitBuffer {
    private(set) var bits: [Bool] = []

    var count: Int { bits.count }

    /// Appends the low `bitCount` bits of `value`, most significant first.
    mutating func append(_ value: Int, bitCount: Int) {
        for shift in stride(from: bitCount - 1, through: 0, by: -1) {
            bits.append((value >> shift) & 1 == 1)
        }
    }

    /// Packs the bits into bytes; a final partial byte is padded with zero bits.
    func bytes() -> [UInt8] {
        var result = [UInt8](repeating: 0, count: (bits.count + 7) / 8)
        for (index, bit) in bits.enumerated() where bit {
            result[index / 8] |= 0x80 >> UInt8(index % 8)
        }
        return result
    }
}
