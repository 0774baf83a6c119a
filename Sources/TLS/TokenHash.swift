// A slow salted hash of the instructor token (PBKDF2-HMAC-SHA256 from OpenSSL), kept in a
// class's recording so a resumed class can recognise the same instructor link while the
// recording stays safe to share: the file alone does not let anyone drive the class, and a
// token set by a person (16+ characters) is costly to brute-force offline.
import COpenSSL
import Foundation

public enum TokenHash {
    public static let defaultIterations = 200_000

    /// `pbkdf2-sha256$ITERATIONS$SALT$HASH` (base64 without padding).
    public static func make(_ token: String, iterations: Int = defaultIterations) -> String {
        var salt = [UInt8](repeating: 0, count: 16)
        if RAND_bytes(&salt, Int32(salt.count)) != 1 {
            var rng = SystemRandomNumberGenerator()
            for i in salt.indices { salt[i] = UInt8.random(in: 0...255, using: &rng) }
        }
        let hash = derive(token, salt: salt, iterations: iterations)
        return "pbkdf2-sha256$\(iterations)$\(b64(salt))$\(b64(hash))"
    }

    /// Whether `token` is the one `encoded` was made from. False for anything malformed.
    public static func verify(_ token: String, against encoded: String) -> Bool {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let iterations = Int(parts[1]),
              (1...10_000_000).contains(iterations),
              let salt = unb64(parts[2]), let expected = unb64(parts[3]), expected.count == 32 else { return false }
        let actual = derive(token, salt: salt, iterations: iterations)
        var diff: UInt8 = 0
        for (a, b) in zip(actual, expected) { diff |= a ^ b }
        return diff == 0
    }

    static func derive(_ token: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let password = Array(token.utf8)
        _ = password.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { pc in
                PKCS5_PBKDF2_HMAC(pc.baseAddress, Int32(pc.count), salt, Int32(salt.count), Int32(iterations),
                                  EVP_sha256(), Int32(out.count), &out)
            }
        }
        return out
    }

    private static func b64(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    private static func unb64(_ text: Substring) -> [UInt8]? {
        var t = String(text)
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t).map { Array($0) }
    }
}
