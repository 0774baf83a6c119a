import Testing
@testable import QRCode

@Suite("GF(256) and Reed-Solomon")
struct ReedSolomonTests {
    @Test func fieldTablesFollowThePrimitivePolynomial() {
        #expect(GF256.exp[0] == 1)
        #expect(GF256.exp[7] == 128)
        #expect(GF256.exp[8] == 29)          // 256 reduced by 0x11D
        #expect(GF256.exp[25] == 3)
        #expect(GF256.exp[255] == 1)         // α has order 255
        #expect(GF256.log[29] == 8)
        // Every non-zero byte appears exactly once among α^0...α^254.
        #expect(Set(GF256.exp[0..<255]).count == 255)
        #expect(!GF256.exp[0..<255].contains(0))
    }

    @Test func multiplicationMatchesShiftAndAdd() {
        // Reference: carry-less "Russian peasant" multiplication reduced by 0x11D.
        func slowMultiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
            var a = Int(a), b = Int(b), product = 0
            while b != 0 {
                if b & 1 != 0 { product ^= a }
                a <<= 1
                if a & 0x100 != 0 { a ^= 0x11D }
                b >>= 1
            }
            return UInt8(product)
        }
        for a in stride(from: 0, through: 255, by: 7) {
            for b in stride(from: 0, through: 255, by: 11) {
                #expect(GF256.multiply(UInt8(a), UInt8(b)) == slowMultiply(UInt8(a), UInt8(b)))
            }
        }
    }

    /// Generator polynomials as exponents of α, as tabulated in Thonky's QR tutorial
    /// (and the standard's annex A).
    @Test(arguments: [
        (7, [0, 87, 229, 146, 149, 238, 102, 21]),
        (10, [0, 251, 67, 46, 61, 118, 70, 64, 94, 32, 45]),
    ])
    func generatorPolynomial(degree: Int, exponents: [Int]) {
        let generator = ReedSolomon.generator(degree: degree)
        #expect(generator.count == degree + 1)
        #expect(generator.map { GF256.log[Int($0)] } == exponents)
    }

    /// The standard's "HELLO WORLD" example, version 1-M (alphanumeric data; the EC step
    /// does not care about the mode).
    @Test func helloWorldVersion1M() {
        let data: [UInt8] = [32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236, 17, 236, 17]
        let ec = ReedSolomon.errorCorrection(for: data, generator: ReedSolomon.generator(degree: 10))
        #expect(ec == [196, 35, 39, 119, 235, 215, 231, 226, 93, 23])
    }

    /// First block of Thonky's version 5-Q example (18 EC codewords per block).
    @Test func version5QFirstBlock() {
        let data: [UInt8] = [67, 85, 70, 134, 87, 38, 85, 194, 119, 50, 6, 18, 6, 103, 38]
        let ec = ReedSolomon.errorCorrection(for: data, generator: ReedSolomon.generator(degree: 18))
        #expect(ec == [213, 199, 11, 45, 115, 247, 241, 223, 229, 248, 154, 117, 154, 111, 86, 161, 111, 39])
    }

    /// A codeword (data followed by its EC bytes) is a multiple of the generator, so every
    /// generator root α^i evaluates it to zero: the property decoders rely on.
    @Test func codewordVanishesAtGeneratorRoots() {
        let data: [UInt8] = Array("http://192.168.1.23:8080/c/K7QP".utf8)
        let degree = 16
        let codeword = data + ReedSolomon.errorCorrection(for: data, generator: ReedSolomon.generator(degree: degree))
        for i in 0..<degree {
            let root = GF256.exp[i]
            // Horner's rule, highest coefficient first.
            let value = codeword.reduce(UInt8(0)) { GF256.multiply($0, root) ^ $1 }
            #expect(value == 0, "codeword(α^\(i)) != 0")
        }
    }
}
