import Foundation

/// The figures of one run and their two renderings: `# `-prefixed summary lines for a
/// person and one JSON line for scripts. Field names and meanings match the shared C
/// loadgen's (`wsbench-loadgen`), so the same summarize script reads both.
struct BenchResult {
    var label: String
    var throughputMode: Bool
    var rate: Double?
    var window: Int
    var subscriberURL: String
    var publisherURL: String
    /// wss:// (either URL), and whether the server's certificate was verified (--tls-ca).
    var tls: Bool = false
    var tlsVerified: Bool = false
    var connections: Int
    var subscribersOpen: Int
    var counters: Counters
    var connectSeconds: Double
    var deflateOffered: Bool
    var size: Int
    var duration: Double
    var loadSeconds: Double
    var wallSeconds: Double
    var broadcasts: Int
    var latency: LogHistogram
    /// Fan-out completion times (ns) of the broadcasts that reached every subscriber, ascending.
    var fanout: [UInt64]
    var deliveriesPerSecond: Double
    var receivedMbitPerSecond: Double
    var serverPID: Int32?
    var rssBeforeKiB: Int?
    var rssIdleKiB: Int?
    var rssAfterKiB: Int?
    var connectionsAtIdle: Int
    var serverCPUPercent: Double?
    var selfCPUPercent: Double
    var systemBusyPercent: Double?
    var cpuCount: Int
    var loadAverageStart: Double?
    var loadAverageEnd: Double?

    static let tool = "classbench"
    static let version = 1

    var expected: UInt64 { UInt64(broadcasts) * UInt64(subscribersOpen) }
    /// Deliveries that never arrived (or arrived after the drain).
    var lost: Int64 { Int64(bitPattern: expected) &- Int64(bitPattern: counters.deliveries) }
    var incompleteBroadcasts: Int { broadcasts - fanout.count }

    /// Server memory growth per open connection while idle, in bytes.
    var memoryPerConnectionBytes: Double? {
        guard let before = rssBeforeKiB, let idle = rssIdleKiB, connectionsAtIdle > 0 else { return nil }
        return Double(idle - before) * 1024 / Double(connectionsAtIdle)
    }

    var modeName: String { throughputMode ? "throughput" : "latency" }

    private func us(_ nanos: UInt64) -> Double { Double(nanos) / 1000 }

    var summaryLines: [String] {
        var lines: [String] = []
        lines.append("# classbench \(BenchResult.version)  mode=\(modeName)  transport=\(tls ? "wss (TLS, certificate \(tlsVerified ? "verified" : "not verified"))" : "ws")  label=\(label)")
        let open = connectionsAtIdle
        lines.append(String(format: "# connect: %d/%d subscribers open in %.3f s (%.0f conn/s), failed=%d retries=%d deflate=%d/%d (no_ctx %d)",
                            subscribersOpen, connections, connectSeconds, connectSeconds > 0 ? Double(open) / connectSeconds : 0.0,
                            counters.failedForGood, counters.retries, counters.deflateNegotiated, open, counters.noContextTakeover))
        if serverPID != nil {
            lines.append(String(format: "# server RSS: before %d KiB, idle with %d conns %d KiB, after load %d KiB => %.0f bytes/conn (%.2f KiB)",
                                rssBeforeKiB ?? -1, connectionsAtIdle, rssIdleKiB ?? -1, rssAfterKiB ?? -1,
                                memoryPerConnectionBytes ?? -1, (memoryPerConnectionBytes ?? -1024) / 1024))
        }
        lines.append(String(format: "# load: %d broadcasts in %.2f s (%@), %llu deliveries of %llu expected, lost %lld, dups %llu, ooo %llu",
                            broadcasts, loadSeconds, throughputMode ? "window \(window)" : "fixed rate",
                            counters.deliveries, expected, lost, counters.duplicates, counters.outOfOrder))
        lines.append(String(format: "# delivery latency us: p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f",
                            us(latency.value(atQuantile: 0.5)), us(latency.value(atQuantile: 0.99)),
                            us(latency.value(atQuantile: 0.999)), us(latency.max), latency.mean / 1000))
        lines.append(String(format: "# fan-out completion us (last subscriber): p50 %.1f  p99 %.1f  max %.1f  (%d complete, %d incomplete)",
                            us(sortedQuantile(fanout, 0.5)), us(sortedQuantile(fanout, 0.99)), us(fanout.last ?? 0),
                            fanout.count, incompleteBroadcasts))
        lines.append(String(format: "# throughput: %.0f deliveries/s, %.1f broadcasts/s",
                            deliveriesPerSecond, wallSeconds > 0 ? Double(broadcasts) / wallSeconds : 0.0))
        lines.append(String(format: "# cpu during load (100%% = one core): server %.0f%%  classbench %.0f%%  whole machine busy %.0f%% of %d cores  loadavg %.2f -> %.2f",
                            serverCPUPercent ?? -1, selfCPUPercent, systemBusyPercent ?? -1, cpuCount,
                            loadAverageStart ?? -1, loadAverageEnd ?? -1))
        if counters.tlsHandshakeErrors > 0 {
            lines.append("# TLS handshake failures: \(counters.tlsHandshakeErrors), first: \(counters.firstTLSError ?? "?")")
        }
        if counters.closedByServer + counters.closedDuringLoad + counters.protocolErrors + counters.inflateErrors > 0 {
            lines.append("# errors: closed_by_server=\(counters.closedByServer) closed_during_load=\(counters.closedDuringLoad) "
                         + "protocol=\(counters.protocolErrors) inflate=\(counters.inflateErrors)")
        }
        return lines
    }

    var jsonLine: String {
        var j = JSONLine()
        j.add("tool", BenchResult.tool)
        j.add("version", BenchResult.version)
        j.add("label", label)
        j.add("mode", modeName)
        j.add("sub_url", subscriberURL)
        j.add("pub_url", publisherURL)
        j.add("tls", tls)
        j.add("tls_verified", tlsVerified)
        j.add("conns", connections)
        j.add("conns_open", subscribersOpen)
        j.add("connect_failed", counters.failedForGood)
        j.add("connect_retries", counters.retries)
        j.add("connect_all_s", connectSeconds, decimals: 4)
        j.add("handshake_errors", counters.handshakeErrors)
        j.add("tls_handshake_errors", counters.tlsHandshakeErrors)
        if let reason = counters.firstTLSError { j.add("tls_error", reason) } else { j.addNull("tls_error") }
        j.add("deflate_offered", deflateOffered)
        j.add("deflate_negotiated", counters.deflateNegotiated)
        j.add("no_context_takeover", counters.noContextTakeover)
        j.add("size", size)
        switch rate {
        case nil: j.add("rate", "max")
        case let r? where r == r.rounded() && r < 1e9: j.add("rate", Int(r))
        case let r?: j.add("rate", r, decimals: 3)
        }
        j.add("window", window)
        j.add("duration_s", duration, decimals: 3)
        j.add("load_s", loadSeconds, decimals: 3)
        j.add("broadcasts", broadcasts)
        j.add("deliveries", counters.deliveries)
        j.add("expected", expected)
        j.add("lost", Int(lost))
        j.add("dups", counters.duplicates)
        j.add("out_of_order", counters.outOfOrder)
        var lat = JSONLine()
        lat.add("p50", us(latency.value(atQuantile: 0.5)))
        lat.add("p99", us(latency.value(atQuantile: 0.99)))
        lat.add("p999", us(latency.value(atQuantile: 0.999)))
        lat.add("max", us(latency.max))
        lat.add("mean", latency.mean / 1000)
        j.add("lat_us", object: lat)
        var fan = JSONLine()
        fan.add("p50", us(sortedQuantile(fanout, 0.5)))
        fan.add("p99", us(sortedQuantile(fanout, 0.99)))
        fan.add("max", us(fanout.last ?? 0))
        fan.add("complete", fanout.count)
        fan.add("incomplete", incompleteBroadcasts)
        j.add("fanout_us", object: fan)
        j.add("deliveries_per_s", deliveriesPerSecond, decimals: 0)
        j.add("broadcasts_per_s", wallSeconds > 0 ? Double(broadcasts) / wallSeconds : 0, decimals: 2)
        j.add("recv_mbit_s", receivedMbitPerSecond)
        if let serverPID { j.add("server_pid", Int(serverPID)) } else { j.addNull("server_pid") }
        func optional(_ key: String, _ value: Int?) { if let value { j.add(key, value) } else { j.addNull(key) } }
        func optional(_ key: String, _ value: Double?, decimals: Int = 1) {
            if let value { j.add(key, value, decimals: decimals) } else { j.addNull(key) }
        }
        optional("rss_before_kb", rssBeforeKiB)
        optional("rss_idle_kb", rssIdleKiB)
        optional("rss_after_kb", rssAfterKiB)
        optional("mem_per_conn_bytes", memoryPerConnectionBytes, decimals: 0)
        optional("server_cpu_pct", serverCPUPercent)
        j.add("loadgen_cpu_pct", selfCPUPercent)
        optional("system_busy_pct", systemBusyPercent)
        j.add("ncpu", cpuCount)
        optional("loadavg_start", loadAverageStart, decimals: 2)
        optional("loadavg_end", loadAverageEnd, decimals: 2)
        j.add("pings", counters.pings)
        j.add("fragmented_msgs", counters.fragmentedMessages)
        j.add("closed_by_server", counters.closedByServer)
        j.add("closed_during_load", counters.closedDuringLoad)
        j.add("protocol_errors", counters.protocolErrors)
        j.add("inflate_errors", counters.inflateErrors)
        j.add("stray_msgs", counters.strayMessages)
        j.add("nomarker_msgs", counters.noMarkerMessages)
        return j.text
    }
}
