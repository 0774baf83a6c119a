import Testing
@testable import WebSocketCodec

/// Inputs found by the fuzzers (Fuzz/ws-frames, Fuzz/inflate), kept as regression tests.
@Suite struct RegressionTests {
    /// ws-frames: a compressed text frame whose data is both corrupt DEFLATE and (once partly
    /// inflated) invalid UTF-8. Fed whole, zlib reports the corruption first; fed byte by byte,
    /// the validator sees the bad UTF-8 first. Both must close with 1007 and stop.
    @Test func corruptCompressedTextClosesWith1007HoweverSplit() {
        let input = hex("c1 c7 37 fa 21 0a 3d c7 b2 ec 41 00 00 00 00 00 00 00 f4 fe fd 21")
        let params = DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15)
        var whole = WebSocketConnectionMachine(deflate: params)
        let a = whole.receive(input)
        var bytewise = WebSocketConnectionMachine(deflate: params)
        let b = feed(&bytewise, input, splitAt: Array(1..<input.count))
        #expect(closeCode(a) == .some(1007))
        #expect(closeCode(b) == .some(1007))
        #expect(sentCloseCode(a) == 1007 && sentCloseCode(b) == 1007)
    }

    /// The machine itself is part of every connection's idle footprint (target < 4 KiB).
    @Test func machineIsSmall() {
        #expect(MemoryLayout<WebSocketConnectionMachine>.size < 256)
        let m = WebSocketConnectionMachine(deflate: DeflateParameters())
        #expect(m.isIdle)
    }
}
