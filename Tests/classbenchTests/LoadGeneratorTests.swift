import Glibc
import Testing
@testable import classbench

/// End-to-end: the real epoll client against the in-process `TestRelay`.
@Suite(.serialized) struct LoadGeneratorTests {
    @Test func latencyModeCountsEveryDeliveryLossAndDuplicate() throws {
        // Broadcast 3 never reaches the first subscriber; broadcast 5 reaches the second twice.
        let relay = try TestRelay(drop: .init(sequence: 3, client: 0), duplicate: .init(sequence: 5, client: 1))
        relay.start()
        defer { relay.stop() }
        // 50 broadcasts/s for 0.2 s on a fixed schedule: exactly 10 broadcasts.
        let generator = try LoadGenerator(config: testConfig(url: relay.url, connections: 20, rate: 50, duration: 0.2,
                                                         serverPID: getpid()))
        let result = try generator.run()
        generator.closeAll()

        #expect(result.subscribersOpen == 20)
        #expect(result.broadcasts == 10)
        #expect(result.expected == 200)
        #expect(result.counters.deliveries == 199)
        #expect(result.lost == 1)
        #expect(result.counters.duplicates == 1)
        #expect(result.counters.outOfOrder == 0)
        #expect(result.counters.strayMessages == 0)
        // The relay echoes to the sender too; those copies are not deliveries.
        #expect(result.counters.publisherEchoes == 10)
        #expect(result.fanout.count == 9)
        #expect(result.incompleteBroadcasts == 1)
        #expect(result.latency.total == 199)
        #expect(result.latency.max < 1_000_000_000)
        #expect(result.rssIdleKiB != nil && result.memoryPerConnectionBytes != nil)
        #expect(result.jsonLine.contains(#""lost":1,"dups":1"#))
        #expect(result.jsonLine.contains(#""rate":50,"#))
    }

    @Test func throughputModeKeepsTheWindowFull() throws {
        let relay = try TestRelay()
        relay.start()
        defer { relay.stop() }
        let generator = try LoadGenerator(config: testConfig(url: relay.url, connections: 10, rate: nil, duration: 0.3))
        let result = try generator.run()
        generator.closeAll()

        #expect(result.subscribersOpen == 10)
        // Window of 2 over a loopback relay: far more than a handful of broadcasts.
        #expect(result.broadcasts > 20)
        #expect(result.lost == 0)
        #expect(result.counters.deliveries == UInt64(result.broadcasts * 10))
        #expect(result.fanout.count == result.broadcasts)
        #expect(result.deliveriesPerSecond > 0)
        #expect(result.jsonLine.contains(#""mode":"throughput""#))
        #expect(result.jsonLine.contains(#""rate":"max""#))
    }

    @Test func splitFramesAndCompressedMessagesAreReassembled() throws {
        let relay = try TestRelay(splitWrites: true, deflate: true)
        relay.start()
        defer { relay.stop() }
        let generator = try LoadGenerator(config: testConfig(url: relay.url, connections: 5, rate: 50, duration: 0.1, deflate: true))
        let result = try generator.run()
        generator.closeAll()

        #expect(result.counters.deflateNegotiated == 6)
        #expect(result.counters.noContextTakeover == 6)
        #expect(result.broadcasts == 5)
        #expect(result.counters.deliveries == 25)
        #expect(result.lost == 0)
        #expect(result.counters.protocolErrors == 0)
        #expect(result.counters.inflateErrors == 0)
        #expect(result.counters.noMarkerMessages == 0)
    }

    @Test func wrongAcceptValueIsRetriedThenGivenUp() throws {
        let relay = try TestRelay(corruptAccept: true)
        relay.start()
        defer { relay.stop() }
        let generator = try LoadGenerator(config: testConfig(url: relay.url, connections: 3, rate: 10, duration: 0.1))
        let result = try generator.run()
        generator.closeAll()

        #expect(result.subscribersOpen == 0)
        #expect(result.broadcasts == 0)
        // 3 subscribers + the publisher, each tried `maxAttempts` times.
        #expect(result.counters.handshakeErrors == 4 * BenchConfig.maxAttempts)
        #expect(result.counters.failedForGood == 4)
        #expect(result.counters.retries == 4 * (BenchConfig.maxAttempts - 1))
    }
}
