/// A log-linear latency histogram in the HDR style: values below `2^subBits` get one
/// bucket each, every power of two above that is split into `2^(subBits-1)` equal
/// buckets. With `subBits = 8` a reported value is within 1/256 (< 0.4 %) of the
/// true one, and recording is O(1) with no allocation, which matters at several
/// hundred thousand deliveries per second.
struct LogHistogram {
    static let subBits = 8
    /// The linear range plus one octave of `2^(subBits-1)` buckets per remaining
    /// power of two covers every UInt64 (the largest index is that of UInt64.max).
    static let bucketCount = (64 - subBits + 2) << (subBits - 1)

    private var counts = [UInt64](repeating: 0, count: LogHistogram.bucketCount)
    private(set) var total: UInt64 = 0
    private(set) var min: UInt64 = 0
    private(set) var max: UInt64 = 0
    private(set) var sum: Double = 0

    var mean: Double { total == 0 ? 0 : sum / Double(total) }

    static func bucketIndex(_ value: UInt64) -> Int {
        let linearLimit: UInt64 = 1 << UInt64(subBits)
        if value < linearLimit { return Int(value) }
        // Keep the top `subBits` significant bits: the shift picks the octave,
        // the remaining bits pick the sub-bucket inside it.
        let msb = 63 - value.leadingZeroBitCount
        let shift = msb - (subBits - 1)
        let mantissa = Int(value >> UInt64(shift))  // in [2^(subBits-1), 2^subBits)
        return (shift << (subBits - 1)) + mantissa
    }

    /// The lowest value that falls into bucket `index`, and the bucket's width.
    static func bucketRange(_ index: Int) -> (low: UInt64, width: UInt64) {
        let half = 1 << (subBits - 1)
        if index < 2 * half { return (UInt64(index), 1) }
        let shift = index / half - 1
        let mantissa = UInt64(index - shift * half)
        return (mantissa << UInt64(shift), 1 << UInt64(shift))
    }

    mutating func record(_ value: UInt64) {
        counts[LogHistogram.bucketIndex(value)] &+= 1
        if total == 0 || value < min { min = value }
        if value > max { max = value }
        total &+= 1
        sum += Double(value)
    }

    /// The value at quantile `q` (0...1): the midpoint of the bucket that holds the
    /// ceil(q * total)-th smallest value, clamped to the recorded min and max.
    func value(atQuantile q: Double) -> UInt64 {
        guard total > 0 else { return 0 }
        let rank = Swift.max(1, UInt64((q * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, count) in counts.enumerated() where count > 0 {
            seen &+= count
            if seen >= rank {
                let (low, width) = LogHistogram.bucketRange(index)
                let mid = low &+ width / 2
                return Swift.min(Swift.max(mid, min), max)
            }
        }
        return max
    }
}

/// Exact quantile of an ascending array (used for per-broadcast fan-out times, of
/// which there are only hundreds or thousands).
func sortedQuantile(_ sorted: [UInt64], _ q: Double) -> UInt64 {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((q * Double(sorted.count)).rounded(.up))
    return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
}
