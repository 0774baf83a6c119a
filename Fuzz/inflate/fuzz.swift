// libFuzzer target: raw DEFLATE data through Inflater with an output limit, as the
// machine does for permessage-deflate. Checks that the limit holds and that arbitrary
// input never crashes; byte 0 splits the input in two to exercise streaming, and the
// input is also compressed and inflated back to check the round trip.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let limit = 256 * 1024
    let body = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let split = min(body.count, Int(data[0]) * body.count / 255)

    let inflater = Inflater()
    var out: [UInt8] = []
    do {
        try inflater.inflate(UnsafeRawBufferPointer(rebasing: body[..<split]), appendingTo: &out, limit: limit)
        try inflater.inflate(UnsafeRawBufferPointer(rebasing: body[split...]), appendingTo: &out, limit: limit)
        try inflater.finishMessage(appendingTo: &out, limit: limit)
    } catch {
        // corrupt or too large: both fine, as long as the limit held
    }
    precondition(out.count <= limit, "inflater exceeded its limit")

    // Round trip: whatever we compress must inflate back to itself.
    var compressor = SharedDeflateCompressor()
    let compressed = compressor.compress(body, windowBits: 9 + Int(data[0] % 7))
    let back = Inflater()
    var restored: [UInt8] = []
    do {
        try compressed.withUnsafeBytes { try back.inflate($0, appendingTo: &restored, limit: limit + body.count) }
        try back.finishMessage(appendingTo: &restored, limit: limit + body.count)
    } catch {
        preconditionFailure("own compressed output failed to inflate: \(error)")
    }
    precondition(restored.elementsEqual(body), "round trip changed the data")
    return 0
}
