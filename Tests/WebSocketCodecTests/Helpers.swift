@testable import WebSocketCodec

let testKey: (UInt8, UInt8, UInt8, UInt8) = (0x37, 0xFA, 0x21, 0x3D)

/// A client frame as a browser would send it.
func clientFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, rsv1: Bool = false) -> [UInt8] {
    WebSocketFrameEncoder.encodeMasked(opcode: opcode, payload: payload, maskKey: testKey, fin: fin, rsv1: rsv1)
}

/// A client frame with arbitrary first byte (for reserved bits and opcodes).
func rawClientFrame(firstByte: UInt8, _ payload: [UInt8]) -> [UInt8] {
    var f = clientFrame(.binary, payload)
    f[0] = firstByte
    return f
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Feeds `input` in chunks of the given sizes (the rest in one go) and collects the events.
func feed(_ machine: inout WebSocketConnectionMachine, _ input: [UInt8], splitAt offsets: [Int] = []) -> [WebSocketEvent] {
    var events: [WebSocketEvent] = []
    var start = 0
    for o in offsets.sorted() where o > start && o < input.count {
        events += machine.receive(Array(input[start..<o]))
        start = o
    }
    events += machine.receive(Array(input[start...]))
    return events
}

/// The close code the machine reported, if it closed.
func closeCode(_ events: [WebSocketEvent]) -> UInt16?? {
    for e in events { if case .closed(let code, _) = e { return .some(code) } }
    return .none
}

/// The close frame the machine sent, decoded to its code.
func sentCloseCode(_ events: [WebSocketEvent]) -> UInt16? {
    for e in events {
        if case .send(let b) = e, b.count >= 4, b[0] == 0x88 { return UInt16(b[2]) << 8 | UInt16(b[3]) }
    }
    return nil
}

/// Runs a whole input through a fresh machine and returns the close code it failed with
/// (both the reported one and the one in the close frame must agree).
func failureCode(_ input: [UInt8], deflate: DeflateParameters? = nil, limits: WebSocketLimits = WebSocketLimits()) -> UInt16? {
    var m = WebSocketConnectionMachine(deflate: deflate, limits: limits)
    let events = m.receive(input)
    guard case .some(let code) = closeCode(events), let code else { return nil }
    return sentCloseCode(events) == code ? code : nil
}

func hex(_ s: String) -> [UInt8] {
    let parts = s.split(separator: " ")
    return parts.compactMap { UInt8($0, radix: 16) }
}
