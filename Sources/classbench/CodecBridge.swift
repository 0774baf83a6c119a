import WebSocketCodec

// The places where classbench relies on the project's WebSocket codec.

/// A complete masked client frame (FIN set) with a fresh random mask key, as every
/// client-to-server frame must be (RFC 6455 section 5.3).
func clientFrame(opcode: WebSocketOpcode, payload: [UInt8]) -> [UInt8] {
    let key = UInt32.random(in: 0...UInt32.max)
    return WebSocketFrameEncoder.encodeMasked(
        opcode: opcode, payload: payload,
        maskKey: (UInt8(truncatingIfNeeded: key >> 24), UInt8(truncatingIfNeeded: key >> 16),
                  UInt8(truncatingIfNeeded: key >> 8), UInt8(truncatingIfNeeded: key)))
}

/// The Sec-WebSocket-Accept a server must answer to `key`.
func webSocketAcceptValue(forKey key: String) -> String {
    WebSocketHandshake.acceptValue(forKey: key)
}

/// permessage-deflate on the receiving side (RFC 7692): the codec's streaming inflater
/// plus the per-message rules, i.e. inflate the removed `00 00 FF FF` tail after every
/// message and forget the window after each one if the server said
/// `server_no_context_takeover`.
final class MessageInflater {
    /// Largest inflated message accepted (a deflate bomb must not eat the memory).
    static let maxMessage = 64 << 20

    // 15 inflates any window the server picked (client_max_window_bits only lowers it).
    private let inflater = Inflater(windowBits: 15)
    private let resetAfterMessage: Bool

    init(noContextTakeover: Bool) {
        resetAfterMessage = noContextTakeover
    }

    /// Replaces `output`'s contents with the inflated message.
    func inflateMessage(_ payload: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(InflateError) {
        output.removeAll(keepingCapacity: true)
        try inflater.inflate(payload, appendingTo: &output, limit: MessageInflater.maxMessage)
        try inflater.finishMessage(appendingTo: &output, limit: MessageInflater.maxMessage)
        if resetAfterMessage { inflater.reset() }
    }
}
