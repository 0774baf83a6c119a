import Testing
@testable import HTTPCodec

@Suite("Client address behind trusted proxies")
struct ForwardedForTests {
    let proxies = [IPRange("10.0.0.0/8")!, IPRange("127.0.0.1")!, IPRange("fd00::/8")!]

    func client(_ peer: String, _ fields: [(String, String)], trusted: [IPRange]? = nil) -> String {
        ForwardedFor.clientAddress(peer: peer, headers: HTTPHeaders(fields), trusted: trusted ?? proxies)
    }

    @Test func ranges() {
        #expect(IPRange("10.0.0.0/8")!.contains("10.200.3.4"))
        #expect(!IPRange("10.0.0.0/8")!.contains("11.0.0.1"))
        #expect(IPRange("192.168.1.0/25")!.contains("192.168.1.127"))
        #expect(!IPRange("192.168.1.0/25")!.contains("192.168.1.128"))
        #expect(IPRange("127.0.0.1")!.contains("::ffff:127.0.0.1"), "IPv4-mapped IPv6")
        #expect(IPRange("fd00::/8")!.contains("fd12:3456::1"))
        #expect(!IPRange("fd00::/8")!.contains("2001:db8::1"))
        #expect(IPRange("0.0.0.0/0")!.contains("8.8.8.8"))
        #expect(!IPRange("10.0.0.0/8")!.contains("fd00::1"))
        for bad in ["", "10.0.0.0/33", "300.1.1.1", "fd00::/129", "example.org", "10.0.0.0/x", "1.2.3"] {
            #expect(IPRange(bad) == nil, "\(bad)")
        }
    }

    @Test func untrustedPeerIsTheClientWhateverItSends() {
        #expect(client("203.0.113.5", [("X-Forwarded-For", "1.1.1.1")]) == "203.0.113.5")
        #expect(client("10.0.0.2", [("X-Forwarded-For", "1.1.1.1")], trusted: []) == "10.0.0.2")
    }

    @Test func xForwardedForIsWalkedFromTheNearestHop() {
        #expect(client("10.0.0.2", [("X-Forwarded-For", "198.51.100.7")]) == "198.51.100.7")
        // A forged first entry stays behind the real client that our proxy appended.
        #expect(client("10.0.0.2", [("X-Forwarded-For", "6.6.6.6, 198.51.100.7")]) == "198.51.100.7")
        // Two trusted proxies in a row.
        #expect(client("127.0.0.1", [("X-Forwarded-For", "198.51.100.7, 10.1.1.1")]) == "198.51.100.7")
        // Repeated fields are one list.
        #expect(client("127.0.0.1", [("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-For", "10.1.1.1")]) == "198.51.100.7")
        // All proxies: the first.
        #expect(client("127.0.0.1", [("X-Forwarded-For", "10.9.9.9, 10.1.1.1")]) == "10.9.9.9")
        // No header: the proxy itself.
        #expect(client("127.0.0.1", []) == "127.0.0.1")
    }

    @Test func forwardedRFC7239() {
        #expect(client("10.0.0.2", [("Forwarded", "for=192.0.2.60;proto=https;by=10.0.0.2")]) == "192.0.2.60")
        #expect(client("10.0.0.2", [("Forwarded", "for=\"[2001:db8:cafe::17]:4711\"")]) == "2001:db8:cafe::17")
        #expect(client("10.0.0.2", [("Forwarded", "For=\"192.0.2.43:47011\", for=10.3.3.3")]) == "192.0.2.43")
        // Forwarded wins over X-Forwarded-For.
        #expect(client("10.0.0.2", [("X-Forwarded-For", "5.5.5.5"), ("Forwarded", "for=192.0.2.60")]) == "192.0.2.60")
    }

    @Test func unbelievableHopsStopTheWalk() {
        // An obfuscated or unknown hop: the last address we could believe is kept.
        #expect(client("10.0.0.2", [("Forwarded", "for=_hidden, for=10.4.4.4")]) == "10.4.4.4")
        #expect(client("10.0.0.2", [("X-Forwarded-For", "unknown")]) == "10.0.0.2")
        #expect(client("10.0.0.2", [("X-Forwarded-For", "")]) == "10.0.0.2")
        #expect(client("10.0.0.2", [("X-Forwarded-For", "<script>")]) == "10.0.0.2")
    }
}
