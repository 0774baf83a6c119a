import CZlib

/// permessage-deflate decompression (RFC 7692) for one connection: raw deflate,
/// the 4-byte `00 00 FF FF` tail re-appended to every message, and the window kept
/// between messages unless the server said `server_no_context_takeover`.
final class Inflater {
    enum Failure: Error, CustomStringConvertible {
        case initFailed(Int32)
        case corrupt(Int32)
        case tooLarge

        var description: String {
            switch self {
            case .initFailed(let code): "inflateInit2 failed (\(code))"
            case .corrupt(let code): "corrupt deflate data (zlib \(code))"
            case .tooLarge: "inflated message exceeds the size limit"
            }
        }
    }

    /// Largest inflated message accepted (a deflate bomb must not eat the memory).
    static let maxOutput = 64 << 20
    private static let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

    private let stream: UnsafeMutablePointer<z_stream>
    private let resetAfterMessage: Bool

    init(noContextTakeover: Bool) throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        resetAfterMessage = noContextTakeover
        // Negative window bits: raw deflate, no zlib header. 15 accepts any window the
        // server picked (client_max_window_bits only lowers it).
        let rc = czlib_inflateInit2(stream, -15)
        guard rc == Z_OK else {
            stream.deallocate()
            throw Failure.initFailed(rc)
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    /// Inflates one complete message's payload into `buffer`, a scratch area shared by
    /// all connections whose whole `count` is usable (it is grown when too small).
    /// Returns how many bytes of `buffer` hold the message.
    func inflateMessage(_ payload: UnsafeRawBufferPointer, into buffer: inout [UInt8]) throws -> Int {
        var produced = try feed(payload, into: &buffer, at: 0)
        produced = try Inflater.tail.withUnsafeBytes { try feed($0, into: &buffer, at: produced) }
        if resetAfterMessage { inflateReset(stream) }
        return produced
    }

    private func feed(_ input: UnsafeRawBufferPointer, into buffer: inout [UInt8], at start: Int) throws -> Int {
        guard let base = input.baseAddress, input.count > 0 else { return start }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = uInt(input.count)
        var used = start
        while true {
            if buffer.count - used < 4096 {
                guard buffer.count < Inflater.maxOutput else { throw Failure.tooLarge }
                buffer += [UInt8](repeating: 0, count: max(buffer.count, 64 * 1024))
            }
            let room = buffer.count - used
            let written: Int = try buffer.withUnsafeMutableBufferPointer { out in
                stream.pointee.next_out = out.baseAddress! + used
                stream.pointee.avail_out = uInt(room)
                let rc = inflate(stream, Z_SYNC_FLUSH)
                // Z_BUF_ERROR only means "no progress possible": the input is used up.
                guard rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR else { throw Failure.corrupt(rc) }
                return room - Int(stream.pointee.avail_out)
            }
            used += written
            // Output space left over means zlib has emitted everything it can.
            if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return used }
            if written == 0 && stream.pointee.avail_out > 0 { return used }
        }
    }
}
