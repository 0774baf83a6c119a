import Testing
@testable import classbench

@Suite struct HistogramTests {
    @Test func smallValuesAreExact() {
        var h = LogHistogram()
        for v in [3, 1, 2, 200, 255] as [UInt64] { h.record(v) }
        #expect(h.total == 5)
        #expect(h.min == 1)
        #expect(h.max == 255)
        #expect(h.value(atQuantile: 0.5) == 3)
        #expect(h.value(atQuantile: 1.0) == 255)
        #expect(h.mean == Double(3 + 1 + 2 + 200 + 255) / 5)
    }

    @Test func bucketsAreContiguousAndCoverEveryValue() {
        // Each bucket starts where the previous one ended.
        var expectedLow: UInt64 = 0
        for index in 0..<LogHistogram.bucketIndex(UInt64(1) << 40) {
            let (low, width) = LogHistogram.bucketRange(index)
            #expect(low == expectedLow, "bucket \(index)")
            expectedLow = low + width
        }
        #expect(LogHistogram.bucketIndex(.max) == LogHistogram.bucketCount - 1)
        for v: UInt64 in [0, 255, 256, 257, 1_000_000, 123_456_789_012, .max] {
            let (low, width) = LogHistogram.bucketRange(LogHistogram.bucketIndex(v))
            #expect(v >= low && v - low < width, "\(v) outside its bucket")
        }
    }

    @Test func quantilesAreWithinHalfAPercent() {
        var h = LogHistogram()
        // 1..100000 microseconds in nanoseconds: the q-quantile is q * 1e8 ns.
        for us in 1...100_000 { h.record(UInt64(us) * 1000) }
        for q in [0.5, 0.9, 0.99, 0.999] {
            let exact = q * 100_000 * 1000
            let reported = Double(h.value(atQuantile: q))
            #expect(abs(reported - exact) / exact < 0.004, "q=\(q): \(reported) vs \(exact)")
        }
        #expect(h.max == 100_000_000)
        // The top quantile is a bucket midpoint too, never above the recorded max.
        #expect(h.value(atQuantile: 1) <= h.max)
        #expect(Double(h.value(atQuantile: 1)) > 0.996 * 100_000_000)
    }

    @Test func emptyHistogramReportsZero() {
        let h = LogHistogram()
        #expect(h.value(atQuantile: 0.99) == 0)
        #expect(h.mean == 0)
    }

    @Test func sortedQuantileUsesCeilingRank() {
        let values: [UInt64] = Array(1...100)
        #expect(sortedQuantile(values, 0.5) == 50)
        #expect(sortedQuantile(values, 0.99) == 99)
        #expect(sortedQuantile(values, 0.991) == 100)
        #expect(sortedQuantile([7], 0.01) == 7)
        #expect(sortedQuantile([], 0.5) == 0)
    }
}

@Suite struct MessageTests {
    @Test func defaultTemplateIsPaddedAtTheEnd() throws {
        let t = try MessageTemplate("@@{seq}@@", size: 32)
        let m = t.message(seq: 42)
        #expect(m.count == 32)
        #expect(Array(m.prefix(6)) == Array("@@42@@".utf8))
        #expect(m.dropFirst(6).allSatisfy { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") })
    }

    @Test func padGoesWherePadIs() throws {
        let t = try MessageTemplate(#"{"t":"@@{seq}@@","p":"{pad}"}"#, size: 40)
        let text = String(decoding: t.message(seq: 7), as: UTF8.self)
        #expect(text.count == 40)
        #expect(text.hasPrefix(#"{"t":"@@7@@","p":""#))
        #expect(text.hasSuffix(#""}"#))
    }

    @Test func paddingIsTheSameForEveryMessage() throws {
        let t = try MessageTemplate("@@{seq}@@", size: 64)
        #expect(t.message(seq: 1).dropFirst(5) == t.message(seq: 2).dropFirst(5))
    }

    @Test func longerThanSizeIsNotTruncated() throws {
        let t = try MessageTemplate("@@{seq}@@ and more text", size: 4)
        #expect(String(decoding: t.message(seq: 123), as: UTF8.self) == "@@123@@ and more text")
    }

    @Test func templateWithoutMarkerIsRejected() {
        #expect(throws: MessageTemplate.Failure.self) { try MessageTemplate("{seq}", size: 10) }
    }

    private func marker(_ s: String) -> UInt64? {
        Array(s.utf8).withUnsafeBytes { findSequenceMarker($0) }
    }

    @Test func markerIsFoundAnywhere() {
        #expect(marker("@@0@@") == 0)
        #expect(marker(#"{"type":"cue","text":"@@12345@@xyz"}"#) == 12345)
        #expect(marker("@@@77@@") == 77)
        #expect(marker("@@x@@ then @@9@@") == 9)
    }

    @Test func brokenMarkersAreNotFound() {
        #expect(marker("") == nil)
        #expect(marker("@@@@") == nil)
        #expect(marker("@@12@") == nil)
        #expect(marker("@@12") == nil)
        #expect(marker("no marker here") == nil)
        // 19 digits would overflow the limit; never accepted.
        #expect(marker("@@1234567890123456789@@") == nil)
    }
}
