/// Arithmetic in GF(2^8) as QR codes use it: elements are bytes, addition is XOR, and
/// multiplication is done through log/antilog tables built from the primitive polynomial
/// x^8 + x^4 + x^3 + x^2 + 1 (0x11D) with generator α = 2 (ISO/IEC 18004, 7.5.2).
enum GF256 {
    /// `exp[i]` = α^i. Twice the field's order long so `exp[log a + log b]` needs no modulo.
    static let exp: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 512)
        var value = 1
        for i in 0..<255 {
            table[i] = UInt8(value)
            value <<= 1
            if value & 0x100 != 0 { value ^= 0x11D }
        }
        for i in 255..<512 { table[i] = table[i - 255] }
        return table
    }()

    /// `log[a]` = i such that α^i = a, for a ≠ 0 (`log[0]` is meaningless and never read).
    static let log: [Int] = {
        var table = [Int](repeating: 0, count: 256)
        for i in 0..<255 { table[Int(exp[i])] = i }
        return table
    }()

    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        if a == 0 || b == 0 { return 0 }
        return exp[log[Int(a)] + log[Int(b)]]
    }
}

/// Reed-Solomon error-correction codewords for one block (ISO/IEC 18004, 7.5.2).
enum ReedSolomon {
    /// The generator polynomial (x - α^0)(x - α^1)…(x - α^(degree-1)), coefficients from the
    /// highest power down, the leading 1 included.
    static func generator(degree: Int) -> [UInt8] {
        var poly: [UInt8] = [1]
        for i in 0..<degree {
            // Multiply by (x + α^i); subtraction is addition (XOR) in GF(2^8).
            var next = poly + [0]
            for (j, coefficient) in poly.enumerated() {
                next[j + 1] ^= GF256.multiply(coefficient, GF256.exp[i])
            }
            poly = next
        }
        return poly
    }

    /// The remainder of data(x)·x^n divided by the generator of degree n: the EC codewords.
    /// Computed as a linear-feedback shift register, one data byte at a time.
    static func errorCorrection(for data: [UInt8], generator: [UInt8]) -> [UInt8] {
        let degree = generator.count - 1
        var remainder = [UInt8](repeating: 0, count: degree)
        for byte in data {
            let factor = byte ^ remainder[0]
            remainder.removeFirst()
            remainder.append(0)
            for j in 0..<degree {
                remainder[j] ^= GF256.multiply(generator[j + 1], factor)
            }
        }
        return remainder
    }
}
