import Glibc

/// Readers for the /proc figures reported next to the latencies: the server's RSS and
/// CPU time, this process's CPU time, whole-machine busy time and the load average.
/// The parsers take the file text so they can be tested without a live process.
enum ProcStats {
    static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var text = ""
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            text += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return text
    }

    /// VmRSS in KiB from the text of /proc/PID/status.
    static func parseRSS(status: String) -> Int? {
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let digits = line.dropFirst("VmRSS:".count).filter { $0.isNumber }
            return Int(digits)
        }
        return nil
    }

    static func rssKiB(pid: Int32) -> Int? {
        readFile("/proc/\(pid)/status").flatMap(parseRSS(status:))
    }

    /// utime + stime in clock ticks from the text of /proc/PID/stat. The command name
    /// (field 2) may contain spaces and parentheses, so fields are counted after the
    /// last ')'; utime and stime are fields 14 and 15.
    static func parseCPUTicks(stat: String) -> UInt64? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3), so field k is fields[k - 3].
        guard fields.count > 12, let utime = UInt64(fields[11]), let stime = UInt64(fields[12]) else { return nil }
        return utime &+ stime
    }

    /// CPU seconds (all threads) used so far by `pid`.
    static func cpuSeconds(pid: Int32) -> Double? {
        guard let ticks = readFile("/proc/\(pid)/stat").flatMap(parseCPUTicks(stat:)) else { return nil }
        return Double(ticks) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func selfCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// (busy, total) jiffies of all CPUs from the first line of /proc/stat; idle and
    /// iowait are the only non-busy columns.
    static func parseSystemCPU(stat: String) -> (busy: UInt64, total: UInt64)? {
        guard let line = stat.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let values = line.split(separator: " ").dropFirst().prefix(8).compactMap { UInt64($0) }
        guard values.count == 8 else { return nil }
        let total = values.reduce(0, &+)
        return (total &- values[3] &- values[4], total)
    }

    static func systemCPU() -> (busy: UInt64, total: UInt64)? {
        readFile("/proc/stat").flatMap(parseSystemCPU(stat:))
    }

    static func loadAverage() -> Double? {
        readFile("/proc/loadavg").flatMap { $0.split(separator: " ").first }.flatMap { Double($0) }
    }
}
