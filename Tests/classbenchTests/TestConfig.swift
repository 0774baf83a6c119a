@testable import classbench

/// A benchmark configuration for the end-to-end tests: one URL for publisher and subscribers.
/// Generous drain and broadcast timeouts: a loaded CI machine may delay a delivery, and only
/// the broadcast that is really dropped should ever wait for them. TLS runs get longer connect
/// and overall limits (handshakes cost CPU on a busy machine).
func testConfig(url: String, connections: Int, rate: Double?, duration: Double, size: Int = 64,
                serverPID: Int32? = nil, deflate: Bool = false, caFile: String? = nil) throws -> BenchConfig {
    let endpoint = try Endpoint(url, allowRemote: false)
    return BenchConfig(
        subscriberURL: url, publisherURL: url, subscriber: endpoint, publisher: endpoint,
        connections: connections, template: try MessageTemplate("@@{seq}@@", size: size), rate: rate, window: 2,
        duration: duration, deflate: deflate, serverPID: serverPID, ramp: 5000, maxPending: 8,
        connectTimeout: endpoint.isSecure ? 20 : 10, settle: 0, drain: 5, broadcastTimeout: 3,
        hardTimeout: endpoint.isSecure ? 60 : 30,
        subscriberHello: nil, extraHeaders: [], label: endpoint.isSecure ? "tls-test" : "test", quiet: true, tlsCAFile: caFile)
}
