// permessage-deflate (RFC 7692) compression and decompression through zlib: raw DEFLATE
// streams (negative windowBits), with the 00 00 ff ff tail of each Z_SYNC_FLUSH removed on send
// and appended back on receive (§7.2.1, §7.2.2).
import CZlib

/// The four bytes a Z_SYNC_FLUSH ends with; stripped from sent messages, re-appended before inflating.
let deflateTail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

/// Compresses one message at a time with no context takeover: the stream is reset before
/// every message, so a message is compressed once and the same bytes can go to every
/// connection that negotiated permessage-deflate (the server always answers with
/// server_no_context_takeover). One instance per event loop, shared by every connection on it,
/// so connections hold no deflate memory at all. Not thread-safe: owned by one queue.
public struct SharedDeflateCompressor {
    private let streams = DeflateStreams()

    public init() {}

    /// Raw-deflates `payload` as one complete message and returns the bytes to put in the
    /// frame (without the trailing 00 00 ff ff). `windowBits` is the negotiated
    /// server_max_window_bits; 8 is compressed with 9 because zlib's raw deflate rejects 8.
    public mutating func compress(_ payload: UnsafeRawBufferPointer, windowBits: Int) -> [UInt8] {
        streams.compress(payload, windowBits: min(15, max(9, windowBits)))
    }

    public mutating func compress(_ payload: [UInt8], windowBits: Int) -> [UInt8] {
        payload.withUnsafeBytes { compress($0, windowBits: windowBits) }
    }
}

/// The z_streams behind `SharedDeflateCompressor`, one per window size, created on first use.
/// A z_stream must stay at one address (zlib keeps a pointer back to it), hence the heap
/// allocation. Owned by the queue that owns the enclosing compressor.
private final class DeflateStreams {
    private var byWindowBits: [Int: UnsafeMutablePointer<z_stream>] = [:]

    deinit {
        for (_, s) in byWindowBits {
            deflateEnd(s)
            s.deinitialize(count: 1)
            s.deallocate()
        }
    }

    private func stream(windowBits: Int) -> UnsafeMutablePointer<z_stream>? {
        if let s = byWindowBits[windowBits] {
            deflateReset(s)
            return s
        }
        let s = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        s.initialize(to: z_stream())
        // memLevel 8 and the default level: a broadcast is compressed once, so ratio matters more than speed.
        guard czlib_deflateInit2(s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -Int32(windowBits), 8, Z_DEFAULT_STRATEGY) == Z_OK else {
            s.deinitialize(count: 1)
            s.deallocate()
            return nil
        }
        byWindowBits[windowBits] = s
        return s
    }

    func compress(_ payload: UnsafeRawBufferPointer, windowBits: Int) -> [UInt8] {
        guard let s = stream(windowBits: windowBits) else { return [] }
        // deflateBound covers a finished stream; a sync flush adds at most a few bytes more.
        var out = [UInt8](repeating: 0, count: Int(deflateBound(s, UInt(payload.count))) + 16)
        var produced = 0
        var empty: UInt8 = 0
        withUnsafeMutablePointer(to: &empty) { emptyPtr in
            s.pointee.next_in = payload.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: UInt8.self)) } ?? emptyPtr
            s.pointee.avail_in = UInt32(payload.count)
            while true {
                if produced == out.count { out.append(contentsOf: repeatElement(0, count: 1024)) }
                let status: Int32 = out.withUnsafeMutableBufferPointer { o in
                    s.pointee.next_out = o.baseAddress! + produced
                    s.pointee.avail_out = UInt32(o.count - produced)
                    let r = deflate(s, Z_SYNC_FLUSH)
                    produced = o.count - Int(s.pointee.avail_out)
                    return r
                }
                // Done when all input is consumed and the flush fitted (output space left over).
                if status != Z_OK || (s.pointee.avail_in == 0 && s.pointee.avail_out > 0) { break }
            }
            s.pointee.next_in = nil
            s.pointee.next_out = nil
        }
        out.removeSubrange(produced...)
        if out.count >= 4 && Array(out[(out.count - 4)...]) == deflateTail { out.removeLast(4) }
        return out
    }
}

public enum InflateError: Error, Sendable, Equatable {
    /// More than the allowed number of inflated bytes (a message too big, or a decompression bomb).
    case tooLarge
    /// The compressed data is not valid DEFLATE.
    case corrupt
}

/// Streaming raw inflater for one connection's incoming compressed messages. The machine
/// creates it on the first compressed message, so connections that never send one hold none.
/// Owned by the connection's queue, like the machine that holds it.
public final class Inflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private var ok: Bool

    /// `windowBits` is the largest window the peer may use; 15 inflates anything.
    public init(windowBits: Int = 15) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        ok = czlib_inflateInit2(stream, -Int32(min(15, max(8, windowBits)))) == Z_OK
    }

    deinit {
        if ok { inflateEnd(stream) }
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Forgets the sliding window (for client_no_context_takeover between messages).
    public func reset() {
        if ok { inflateReset(stream) }
        streamEnded = false
    }

    /// Set when a DEFLATE stream ended (BFINAL) before the message did: the rest of the
    /// message is ignored, and the next message starts a new stream.
    private var streamEnded = false

    /// Inflates the 00 00 ff ff that the sender removed from the end of the message (RFC 7692 §7.2.2).
    public func finishMessage(appendingTo out: inout [UInt8], limit: Int) throws(InflateError) {
        if streamEnded {
            reset()
            return
        }
        let tail: (UInt8, UInt8, UInt8, UInt8) = (0x00, 0x00, 0xFF, 0xFF)
        var failure: InflateError?
        withUnsafeBytes(of: tail) { buffer in
            do throws(InflateError) { try inflate(buffer, appendingTo: &out, limit: limit) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Inflates `input` and appends the output to `out`, throwing `.tooLarge` as soon as `out`
    /// would exceed `limit` bytes: output is produced 16 KiB at a time, so a bomb never gets
    /// more than one chunk past the limit. A DEFLATE stream ending inside the message (a
    /// block with BFINAL set, RFC 7692 §7.2.3.4) ends it: the rest of the message is ignored.
    public func inflate(_ input: UnsafeRawBufferPointer, appendingTo out: inout [UInt8], limit: Int) throws(InflateError) {
        guard ok else { throw .corrupt }
        guard !streamEnded, let base = input.baseAddress, input.count > 0 else { return }
        let chunkSize = 16 * 1024
        var failure: InflateError?
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: chunkSize) { chunk in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self))
            stream.pointee.avail_in = UInt32(input.count)
            while true {
                stream.pointee.next_out = chunk.baseAddress
                stream.pointee.avail_out = UInt32(chunkSize)
                let status = CZlib.inflate(stream, Z_SYNC_FLUSH)
                let produced = chunkSize - Int(stream.pointee.avail_out)
                if produced > 0 {
                    if out.count > limit &- produced { failure = .tooLarge; break }
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[0..<produced]))
                }
                if status == Z_STREAM_END {
                    streamEnded = true
                    break
                }
                if status == Z_BUF_ERROR { break }               // no progress possible: input consumed
                if status != Z_OK { failure = .corrupt; break }
                if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { break }
            }
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
        }
        if let failure {
            reset()
            throw failure
        }
    }
}
