// libFuzzer target: arbitrary bytes through WebSocketConnectionMachine, with and without
// permessage-deflate, fed whole and in chunks. Beyond "no crash", it checks that the events
// do not depend on how the input was split (the decoder must be fully incremental) and that
// the machine stops producing events after `.closed`.
//
// Input layout: byte 0 = options (bit 0: deflate, bit 1: client_no_context_takeover,
// bits 2-7: chunking seed), the rest is the byte stream from the "client".

private func run(_ input: UnsafeRawBufferPointer, deflate: DeflateParameters?, limits: WebSocketLimits, chunkSeed: UInt64?) -> [WebSocketEvent] {
    var machine = WebSocketConnectionMachine(deflate: deflate, limits: limits)
    guard var seed = chunkSeed else { return machine.receive(input) }
    var events: [WebSocketEvent] = []
    var start = 0
    while start < input.count {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407   // LCG: deterministic chunk sizes
        let size = 1 + Int((seed >> 33) % 64)
        let end = min(input.count, start + size)
        events += machine.receive(UnsafeRawBufferPointer(rebasing: input[start..<end]))
        start = end
    }
    return events
}

/// A message with several faults may fail on any of them depending on where the input was
/// split (for instance invalid UTF-8 is seen before or after the inflated size passes the
/// limit), so the close reason is dropped and 1007/1009 compare equal. Everything else,
/// including every data event before the close, must match exactly.
private func normalized(_ events: [WebSocketEvent]) -> [WebSocketEvent] {
    events.map { event in
        switch event {
        case .send(let bytes) where bytes.first == 0x88 && bytes.count >= 4:
            return .send(Array(bytes[2..<4]).map { $0 == 0xF1 ? 0xEF : $0 })   // 1009 (03 F1) -> 1007 (03 EF)
        case .closed(let code, _):
            return .closed(code: code == 1009 ? 1007 : code, reason: "")
        default:
            return event
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let options = data[0]
    let input = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    var limits = WebSocketLimits()
    limits.maxMessageBytes = 64 * 1024      // small, so the 1009 paths are reached
    let deflate: DeflateParameters? = options & 1 != 0
        ? DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: options & 2 != 0, serverMaxWindowBits: 15, clientMaxWindowBits: 15)
        : nil

    let whole = run(input, deflate: deflate, limits: limits, chunkSeed: nil)
    let chunked = run(input, deflate: deflate, limits: limits, chunkSeed: UInt64(options >> 2))
    precondition(normalized(whole) == normalized(chunked), "events depend on how the input was split")

    // Nothing after .closed, and .closed at most once.
    if let i = whole.firstIndex(where: { if case .closed = $0 { return true } else { return false } }) {
        precondition(i == whole.count - 1, "events after .closed")
    }
    for event in whole {
        switch event {
        case .text(let t): precondition(UTF8Validator.isValid(t) && t.count <= limits.maxMessageBytes)
        case .binary(let b): precondition(b.count <= limits.maxMessageBytes)
        case .ping(let p), .pong(let p): precondition(p.count <= 125)
        default: break
        }
    }
    return 0
}
