// The per-connection WebSocket protocol (RFC 6455 §5-§8, RFC 7692 §6), server role, as a
// pure state machine: bytes in, events out. The I/O layer performs the events in order.

public struct WebSocketLimits: Sendable {
    /// Largest message accepted, counted in inflated bytes; larger -> close 1009.
    public var maxMessageBytes = 1 << 20
    /// Messages shorter than this are sent uncompressed: deflate does not pay off on them.
    public var compressionThreshold = 64
    public init() {}
}

/// What the connection should do.
public enum WebSocketEvent: Sendable, Equatable {
    /// A complete, UTF-8-validated, inflated text message.
    case text([UInt8])
    case binary([UInt8])
    /// Informational: the machine has already queued the pong as `.send`.
    case ping([UInt8])
    case pong([UInt8])
    /// Bytes to write to the peer, already framed (pong, close reply).
    case send([UInt8])
    /// The close handshake is finished or the protocol failed: flush pending `.send` bytes,
    /// then close the TCP connection. `code` is the peer's close code (nil if it sent none),
    /// or ours when we failed the connection.
    case closed(code: UInt16?, reason: String)
}

/// Why the machine fails a connection: the close code and a short reason for the close frame.
struct WebSocketProtocolViolation: Error {
    var code: UInt16
    var reason: String
    init(_ code: UInt16, _ reason: String) { self.code = code; self.reason = reason }
}

/// Server-role protocol machine for one connection. A value type holding no I/O; the
/// inflater it may hold is a reference, so copies of a machine share it: keep one machine per
/// connection, on the connection's queue.
///
/// Memory: between messages it holds no heap buffers (the message buffer is handed out with
/// the event, the inflater is created on the first compressed message and, with
/// client_no_context_takeover, dropped after each one).
public struct WebSocketConnectionMachine {
    private enum State {
        case open
        case closeSent       // we initiated the close; waiting for the peer's close
        case closed          // finished: further input is ignored
    }

    /// The data message being received (possibly across fragments).
    private struct MessageInProgress {
        var opcode: WebSocketOpcode
        var compressed: Bool
    }

    public let deflate: DeflateParameters?
    public let limits: WebSocketLimits

    private var state: State = .open
    private var decoder = WebSocketFrameDecoder()
    private var frame: WebSocketFrameHeader?          // header of the frame whose payload is arriving
    private var message: MessageInProgress?
    private var messageBytes: [UInt8] = []            // the (inflated) message so far
    private var controlBytes: [UInt8] = []            // the control frame's payload so far (<= 125 bytes)
    private var utf8 = UTF8Validator()
    private var inflater: Inflater?

    public init(deflate: DeflateParameters?, limits: WebSocketLimits = WebSocketLimits()) {
        self.deflate = deflate
        self.limits = limits
    }

    /// True once a close frame has been sent or the connection is finished.
    public var isClosing: Bool { state != .open }

    /// True when the machine holds no per-message heap memory (for tests and memory accounting).
    public var isIdle: Bool {
        message == nil && frame == nil && messageBytes.capacity == 0 && controlBytes.capacity == 0 && decoder.isAtFrameBoundary
            && (inflater == nil || !(deflate?.clientNoContextTakeover ?? true))
    }

    // MARK: - Input

    /// Consumes bytes from the socket and returns the events in order. After `.closed` has
    /// been returned, further input is ignored.
    public mutating func receive(_ bytes: UnsafeRawBufferPointer) -> [WebSocketEvent] {
        guard state != .closed else { return [] }
        var events: [WebSocketEvent] = []
        var index = 0
        do {
            while state != .closed {
                let step: WebSocketFrameDecoder.Step
                do {
                    step = try decoder.next(bytes, index: &index)
                } catch {
                    throw WebSocketProtocolViolation(WebSocketCloseCode.protocolError, "invalid frame length")
                }
                switch step {
                case .needMoreData:
                    return events
                case .header(let header):
                    try begin(header)
                case .payload(let chunk, let maskOffset):
                    try payload(chunk, maskOffset: maskOffset)
                case .frameEnd:
                    try end(&events)
                }
            }
        } catch let violation as WebSocketProtocolViolation {
            fail(violation, &events)
        } catch {
            fail(WebSocketProtocolViolation(WebSocketCloseCode.internalError, "internal error"), &events)
        }
        return events
    }

    public mutating func receive(_ bytes: [UInt8]) -> [WebSocketEvent] {
        bytes.withUnsafeBytes { receive($0) }
    }

    /// Validates a header against the connection's state (RFC 6455 §5.2-§5.5, RFC 7692 §6.1).
    private mutating func begin(_ header: WebSocketFrameHeader) throws(WebSocketProtocolViolation) {
        let protocolError = WebSocketCloseCode.protocolError
        guard header.masked else { throw .init(protocolError, "client frames must be masked") }
        guard !header.rsv2, !header.rsv3 else { throw .init(protocolError, "reserved bits set") }
        guard let opcode = header.opcode else { throw .init(protocolError, "reserved opcode") }
        if opcode.isControl {
            guard header.fin else { throw .init(protocolError, "fragmented control frame") }
            guard header.payloadLength <= 125 else { throw .init(protocolError, "control frame too long") }
            guard !header.rsv1 else { throw .init(protocolError, "RSV1 on a control frame") }
            controlBytes.reserveCapacity(Int(header.payloadLength))
        } else if opcode == .continuation {
            guard message != nil else { throw .init(protocolError, "continuation without a message") }
            guard !header.rsv1 else { throw .init(protocolError, "RSV1 on a continuation frame") }
        } else {
            guard message == nil else { throw .init(protocolError, "new message inside a fragmented one") }
            guard !header.rsv1 || deflate != nil else { throw .init(protocolError, "RSV1 without permessage-deflate") }
            message = MessageInProgress(opcode: opcode, compressed: header.rsv1)
            utf8 = UTF8Validator()
        }
        if !opcode.isControl, let message, !message.compressed {
            // Refuse before buffering: the frame alone would exceed the limit.
            let room = UInt64(max(0, limits.maxMessageBytes - messageBytes.count))
            guard header.payloadLength <= room else { throw .init(WebSocketCloseCode.messageTooBig, "message too big") }
            // Reserve for the whole frame up front, but grow geometrically: reserving exactly
            // per fragment would copy the message on every one (quadratic on 64-byte fragments).
            let needed = messageBytes.count + Int(header.payloadLength)
            if needed > messageBytes.capacity {
                messageBytes.reserveCapacity(max(needed, messageBytes.capacity * 2))
            }
        }
        frame = header
    }

    private mutating func payload(_ chunk: UnsafeRawBufferPointer, maskOffset: Int) throws(WebSocketProtocolViolation) {
        guard let frame else { return }
        if frame.opcode?.isControl ?? false {
            WebSocketFrameDecoder.unmask(chunk, maskKey: frame.maskKey, maskOffset: maskOffset, appendingTo: &controlBytes)
            return
        }
        guard let message else { return }
        let before = messageBytes.count
        if message.compressed {
            try inflateMasked(chunk, maskKey: frame.maskKey, maskOffset: maskOffset)
        } else {
            WebSocketFrameDecoder.unmask(chunk, maskKey: frame.maskKey, maskOffset: maskOffset, appendingTo: &messageBytes)
        }
        if message.opcode == .text {
            try validateUTF8(from: before)
        }
    }

    /// Unmasks compressed bytes through a small stack buffer and inflates them into the message:
    /// compressed input is never buffered per connection.
    private mutating func inflateMasked(_ chunk: UnsafeRawBufferPointer, maskKey: UInt32, maskOffset: Int) throws(WebSocketProtocolViolation) {
        let scratchSize = 4096
        var failure: WebSocketProtocolViolation?
        withUnsafeTemporaryAllocation(byteCount: scratchSize, alignment: 8) { scratch in
            var done = 0
            while done < chunk.count {
                let n = min(scratchSize, chunk.count - done)
                let piece = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<n])
                piece.copyMemory(from: UnsafeRawBufferPointer(rebasing: chunk[done..<(done + n)]))
                WebSocketFrameDecoder.unmaskInPlace(piece, maskKey: maskKey, maskOffset: (maskOffset + done) & 3)
                do throws(WebSocketProtocolViolation) {
                    try inflate(UnsafeRawBufferPointer(piece))
                } catch {
                    failure = error
                    return
                }
                done += n
            }
        }
        if let failure { throw failure }
    }

    /// Inflates `input`, or the 00 00 ff ff tail that ends every message when `input` is nil.
    private mutating func inflate(_ input: UnsafeRawBufferPointer?) throws(WebSocketProtocolViolation) {
        let inflater: Inflater
        if let existing = self.inflater {
            inflater = existing
        } else {
            inflater = Inflater(windowBits: 15)
            self.inflater = inflater
        }
        do {
            if let input {
                try inflater.inflate(input, appendingTo: &messageBytes, limit: limits.maxMessageBytes)
            } else {
                try inflater.finishMessage(appendingTo: &messageBytes, limit: limits.maxMessageBytes)
            }
        } catch .tooLarge {
            throw .init(WebSocketCloseCode.messageTooBig, "message too big")
        } catch {
            throw .init(WebSocketCloseCode.invalidPayload, "invalid compressed data")
        }
    }

    private mutating func validateUTF8(from start: Int) throws(WebSocketProtocolViolation) {
        guard start < messageBytes.count else { return }
        let valid = messageBytes.withUnsafeBytes { utf8.validate(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        guard valid else { throw .init(WebSocketCloseCode.invalidPayload, "invalid UTF-8") }
    }

    private mutating func end(_ events: inout [WebSocketEvent]) throws(WebSocketProtocolViolation) {
        guard let header = frame, let opcode = header.opcode else { return }
        frame = nil
        if opcode.isControl {
            let payload = controlBytes
            controlBytes = []
            try control(opcode, payload, &events)
            return
        }
        guard header.fin, let message else { return }
        if message.compressed {
            let before = messageBytes.count
            try inflate(nil)
            if message.opcode == .text { try validateUTF8(from: before) }
            if deflate?.clientNoContextTakeover ?? false {
                inflater = nil       // the next message starts from scratch: free ~40 KiB of zlib state
            }
        }
        if message.opcode == .text, !utf8.isComplete {
            throw .init(WebSocketCloseCode.invalidPayload, "truncated UTF-8")
        }
        let bytes = messageBytes
        messageBytes = []
        self.message = nil
        // After our close frame, data is still parsed (to find the peer's close) but not delivered.
        guard state == .open else { return }
        events.append(message.opcode == .text ? .text(bytes) : .binary(bytes))
    }

    private mutating func control(_ opcode: WebSocketOpcode, _ payload: [UInt8], _ events: inout [WebSocketEvent]) throws(WebSocketProtocolViolation) {
        switch opcode {
        case .ping:
            events.append(.ping(payload))
            if state == .open { events.append(.send(WebSocketFrameEncoder.encode(opcode: .pong, payload: payload))) }
        case .pong:
            events.append(.pong(payload))
        case .close:
            let (code, reason) = try Self.parseClose(payload)
            if state == .open {
                // Echo the peer's code (§5.5.1), or an empty close if it sent none.
                let reply = code.map { WebSocketFrameEncoder.closePayload(code: $0, reason: "") } ?? []
                events.append(.send(WebSocketFrameEncoder.encode(opcode: .close, payload: reply)))
            }
            state = .closed
            releaseBuffers()
            events.append(.closed(code: code, reason: reason))
        default:
            break
        }
    }

    /// Validates a close payload (§5.5.1, §7.4): empty, or a valid code plus a UTF-8 reason.
    static func parseClose(_ payload: [UInt8]) throws(WebSocketProtocolViolation) -> (UInt16?, String) {
        if payload.isEmpty { return (nil, "") }
        guard payload.count >= 2 else { throw .init(WebSocketCloseCode.protocolError, "close payload of 1 byte") }
        let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
        guard WebSocketCloseCode.isValidOnWire(code) else { throw .init(WebSocketCloseCode.protocolError, "invalid close code") }
        let reason = Array(payload[2...])
        guard UTF8Validator.isValid(reason) else { throw .init(WebSocketCloseCode.invalidPayload, "invalid UTF-8 in close reason") }
        return (code, String(decoding: reason, as: UTF8.self))
    }

    /// Fails the connection (§7.1.7): send a close with the code unless we already sent one, then finish.
    private mutating func fail(_ violation: WebSocketProtocolViolation, _ events: inout [WebSocketEvent]) {
        if state == .open {
            let payload = WebSocketFrameEncoder.closePayload(code: violation.code, reason: violation.reason)
            events.append(.send(WebSocketFrameEncoder.encode(opcode: .close, payload: payload)))
        }
        state = .closed
        releaseBuffers()
        events.append(.closed(code: violation.code, reason: violation.reason))
    }

    private mutating func releaseBuffers() {
        messageBytes = []
        controlBytes = []
        message = nil
        frame = nil
        inflater = nil
    }

    // MARK: - Output

    /// Starts the closing handshake from our side (1001 on shutdown, 1008, 1011, ...) and
    /// returns the close frame to send. The I/O layer then waits, with a timeout, for the
    /// peer's close (reported as `.closed`) or EOF. Returns no bytes if a close was already sent.
    public mutating func initiateClose(code: UInt16, reason: String) -> [UInt8] {
        guard state == .open else { return [] }
        state = .closeSent
        messageBytes = []
        message = nil
        return WebSocketFrameEncoder.encode(opcode: .close, payload: WebSocketFrameEncoder.closePayload(code: code, reason: reason))
    }

    /// Frames an outgoing data message for this connection, compressed with the shared
    /// compressor when deflate was negotiated and the payload reaches the threshold.
    public func frameMessage(opcode: WebSocketOpcode, payload: [UInt8], compressor: inout SharedDeflateCompressor) -> [UInt8] {
        Self.frameMessage(opcode: opcode, payload: payload, deflate: deflate, limits: limits, compressor: &compressor)
    }

    /// The same for a broadcast: frame (and compress) once, then send the bytes to every
    /// connection whose negotiated parameters match (`DeflateParameters.serverMaxWindowBits`
    /// decides the stream; all connections use server_no_context_takeover).
    public static func frameMessage(opcode: WebSocketOpcode, payload: [UInt8], deflate: DeflateParameters?, limits: WebSocketLimits = WebSocketLimits(),
                                    compressor: inout SharedDeflateCompressor) -> [UInt8] {
        if let deflate, !opcode.isControl, opcode != .continuation, payload.count >= limits.compressionThreshold {
            let compressed = compressor.compress(payload, windowBits: deflate.serverMaxWindowBits)
            // Incompressible data is sent as is: the RSV1 bit is per message, so this is always allowed.
            if !compressed.isEmpty, compressed.count < payload.count {
                return WebSocketFrameEncoder.encode(opcode: opcode, payload: compressed, rsv1: true)
            }
        }
        return WebSocketFrameEncoder.encode(opcode: opcode, payload: payload)
    }
}
