import Testing
@testable import WebSocketCodec

@Suite struct UTF8ValidatorTests {
    static let valid: [[UInt8]] = [
        [], bytes("Hello-µ@ßöäüàá-UTF-8!!"), bytes("κόσμε"),
        [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80], [0xEF, 0xBF, 0xBF],
        [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], bytes("abcdefghijklmnopqrstuvwxyz0123456789"),
    ]
    static let invalid: [[UInt8]] = [
        [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF],             // lone continuation, overlong 2-byte
        [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF],                 // overlong 3-byte
        [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],     // overlong 4-byte
        [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],                 // surrogates
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xFE],   // above U+10FFFF
        [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64],
        [0xC2], [0xE1, 0x80], [0xF0, 0x90, 0x80],               // truncated
        [0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x80], // after the ASCII fast path
    ]

    @Test(arguments: valid) func acceptsValid(_ s: [UInt8]) {
        #expect(UTF8Validator.isValid(s))
        #expect(String(validating: s, as: UTF8.self) != nil)   // agrees with the standard library
    }

    @Test(arguments: invalid) func rejectsInvalid(_ s: [UInt8]) {
        #expect(!UTF8Validator.isValid(s))
        #expect(String(validating: s, as: UTF8.self) == nil)
    }

    /// Split at every byte boundary, the streaming result equals the one-shot result.
    @Test func splitAtEveryBoundary() {
        for s in Self.valid + Self.invalid {
            let whole = UTF8Validator.isValid(s)
            for cut in 0...s.count {
                var v = UTF8Validator()
                let ok = v.validate(Array(s[..<cut])) && v.validate(Array(s[cut...])) && v.isComplete
                #expect(ok == whole, "\(s) cut at \(cut)")
            }
        }
    }

    /// Every 1-3 byte sequence agrees with the standard library's validation.
    @Test func exhaustiveShortSequencesAgreeWithStdlib() {
        let interesting: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        for a in interesting {
            for b in interesting {
                for c in interesting {
                    for d in [UInt8(0x80), 0xBF, 0x41] {
                        let s = [a, b, c, d]
                        #expect(UTF8Validator.isValid(s) == (String(validating: s, as: UTF8.self) != nil), "\(s)")
                    }
                }
            }
        }
    }

    @Test func failsAtTheFirstInvalidByte() {
        var v = UTF8Validator()
        let first = v.validate([0x61, 0xCE])     // incomplete but still possible
        let second = v.validate([0x41])          // a continuation byte was expected
        #expect(first)
        #expect(!second)
    }
}
