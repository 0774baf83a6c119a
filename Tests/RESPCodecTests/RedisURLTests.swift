import Testing
import RESPCodec

@Suite struct RedisURLTests {
    @Test func acceptedForms() throws {
        #expect(try RedisURL("redis://localhost") == RedisURL(host: "localhost"))
        #expect(try RedisURL("redis://10.0.0.5:6380") == RedisURL(host: "10.0.0.5", port: 6380))
        #expect(try RedisURL("redis://host:6379/0") == RedisURL(host: "host", database: 0))
        #expect(try RedisURL("redis://host/3") == RedisURL(host: "host", database: 3))
        #expect(try RedisURL("redis://host/") == RedisURL(host: "host"))
        #expect(try RedisURL("REDIS://Host:1") == RedisURL(host: "Host", port: 1))
        #expect(try RedisURL("redis://:s3cret@redis.internal:6379/2")
                == RedisURL(host: "redis.internal", password: "s3cret", database: 2))
        #expect(try RedisURL("redis://alice:pw@host") == RedisURL(host: "host", username: "alice", password: "pw"))
        #expect(try RedisURL("redis://[::1]:6390/1") == RedisURL(host: "::1", port: 6390, database: 1))
        #expect(try RedisURL("redis://[fe80::1]") == RedisURL(host: "fe80::1"))
        // Percent-encoding, and an unencoded '@' or ':' inside the password.
        #expect(try RedisURL("redis://:p%40ss%3Aw%2Fd@h").password == "p@ss:w/d")
        #expect(try RedisURL("redis://:p@ss:word@h:7").password == "p@ss:word")
        #expect(try RedisURL("redis://:p#?x@h").password == "p#?x")
        // An empty password is no password.
        #expect(try RedisURL("redis://:@h").password == nil)
    }

    @Test func refusedForms() {
        let cases: [(String, String)] = [
            ("http://host", "starts with redis://"),
            ("host:6379", "starts with redis://"),
            ("rediss://host", "not supported"),
            ("redis://", "no host"),
            ("redis://:6379", "no host"),
            ("redis://host:0", "port"),
            ("redis://host:65536", "port"),
            ("redis://host:", "port"),
            ("redis://host:abc", "port"),
            ("redis://host/x", "database must be a number"),
            ("redis://host/-1", "database must be a number"),
            ("redis://host/1/2", "database must be a number"),
            ("redis://host?db=1", "query"),
            ("redis://alice@host", "needs a password"),
            ("redis://alice:@host", "empty password"),
            ("redis://[::1", "unclosed"),
            ("redis://[::1]x", "unexpected"),
            ("redis://:%4@host", "percent"),
            ("redis://ho st", "not a valid"),
        ]
        for (text, fragment) in cases {
            do {
                _ = try RedisURL(text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.message.contains(fragment), "\(text): \(error.message)")
            }
        }
    }

    @Test func descriptionHidesThePassword() throws {
        #expect(try RedisURL("redis://:s3cret@h:1/2").description == "redis://:***@h:1/2")
        #expect(try RedisURL("redis://u:s3cret@h").description == "redis://u:***@h:6379/0")
        #expect(try RedisURL("redis://[::1]").description == "redis://[::1]:6379/0")
        do { _ = try RedisURL("https://:s3cret@h") } catch { #expect(!error.message.contains("s3cret")) }
    }
}
