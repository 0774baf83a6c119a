/// A QR code symbol (ISO/IEC 18004 model 2) holding a text as UTF-8 in one byte-mode segment.
///
/// Encoding is pure and deterministic: the same text and level always give the same modules.
/// The smallest version (1-40) that holds the text is chosen, and of the eight masks the one
/// with the lowest standard penalty score (ties go to the lower mask number).
///
///     let code = try QRCode("http://192.168.1.23:8080/c/K7QP")
///     print(code.terminalString())
public struct QRCode: Sendable {
    /// How much of the symbol may be damaged and still read back: about 7%, 15%, 25% or 30%.
    /// Higher levels need a larger symbol for the same text.
    public enum ErrorCorrection: Sendable, CaseIterable {
        case low, medium, quartile, high
    }

    /// Modules per side, without quiet zone: 21 for version 1 up to 177 for version 40.
    public let size: Int
    /// 1...40.
    public let version: Int
    public let errorCorrection: ErrorCorrection
    /// The mask (0...7) the penalty rules chose.
    public let mask: Int
    /// Row-major, true = dark.
    private let modules: [Bool]

    /// Encodes `text` as UTF-8 bytes.
    /// - Throws: `QRCodeError.tooLong` when the bytes exceed version 40's capacity at `errorCorrection`.
    public init(_ text: String, errorCorrection: ErrorCorrection = .medium) throws {
        let bytes = Array(text.utf8)
        guard let version = DataEncoding.smallestVersion(byteCount: bytes.count, level: errorCorrection) else {
            throw QRCodeError.tooLong(
                byteCount: bytes.count,
                maximum: DataEncoding.maximumByteCount(level: errorCorrection))
        }
        let data = DataEncoding.dataCodewords(for: bytes, version: version, level: errorCorrection)
        let codewords = DataEncoding.interleavedCodewords(data: data, version: version, level: errorCorrection)

        var unmasked = ModuleMatrix(version: version)
        unmasked.placeCodewords(codewords)

        // Score every mask on the finished symbol (format bits included, as they are scored
        // too) and keep the first with the lowest penalty.
        func masked(_ mask: Int) -> ModuleMatrix {
            var candidate = unmasked
            candidate.applyMask(mask)
            candidate.drawFormatInformation(level: errorCorrection, mask: mask)
            return candidate
        }
        var chosen = (matrix: masked(0), mask: 0)
        var lowestPenalty = Penalty.score(chosen.matrix)
        for mask in Mask.all.dropFirst() {
            let candidate = masked(mask)
            let penalty = Penalty.score(candidate)
            if penalty < lowestPenalty {
                chosen = (candidate, mask)
                lowestPenalty = penalty
            }
        }

        self.version = version
        self.size = chosen.matrix.size
        self.errorCorrection = errorCorrection
        self.mask = chosen.mask
        self.modules = chosen.matrix.modules
    }

    /// Whether the module at column `x`, row `y` is dark. Coordinates outside the symbol are
    /// light, as the quiet zone around it is.
    public subscript(x: Int, y: Int) -> Bool {
        guard (0..<size).contains(x), (0..<size).contains(y) else { return false }
        return modules[y * size + x]
    }
}

public enum QRCodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text's UTF-8 form is longer than the largest symbol holds at the chosen level.
    case tooLong(byteCount: Int, maximum: Int)

    public var description: String {
        switch self {
        case let .tooLong(byteCount, maximum):
            "text too long for a QR code: \(byteCount) bytes of UTF-8, at most \(maximum) fit at this error correction level"
        }
    }
}
