/// Builds the publisher's messages: `{seq}` becomes the sequence number, and the text
/// is padded to `size` bytes with fixed pseudo-random lowercase letters, at `{pad}`
/// if present, else at the end. Letters rather than a repeated byte so that
/// permessage-deflate has realistic (not trivially compressible) input.
struct MessageTemplate: Sendable {
    enum Failure: Error, CustomStringConvertible {
        case missingMarker
        var description: String { "the message template must contain '@@{seq}@@' so subscribers can find the sequence number" }
    }

    private let beforePad: [UInt8]
    private let afterPad: [UInt8]
    private let padding: [UInt8]
    let size: Int

    init(_ template: String, size: Int) throws {
        guard template.contains("@@{seq}@@") else { throw Failure.missingMarker }
        self.size = size
        if let padRange = template.range(of: "{pad}") {
            beforePad = Array(template[..<padRange.lowerBound].utf8)
            afterPad = Array(template[padRange.upperBound...].utf8)
        } else {
            beforePad = Array(template.utf8)
            afterPad = []
        }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        padding = (0..<max(size, 0)).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(ascii: "a") + UInt8(state % 26)
        }
    }

    func message(seq: UInt64) -> [UInt8] {
        let number = Array(String(seq).utf8)
        let head = MessageTemplate.substitute(beforePad, number)
        let tail = MessageTemplate.substitute(afterPad, number)
        let padLength = max(0, size - head.count - tail.count)
        return head + padding[0..<padLength] + tail
    }

    private static let seqToken = Array("{seq}".utf8)

    private static func substitute(_ text: [UInt8], _ number: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count + number.count)
        var i = 0
        while i < text.count {
            if text[i] == UInt8(ascii: "{"), text.count - i >= seqToken.count,
               text[i..<(i + seqToken.count)].elementsEqual(seqToken) {
                out += number
                i += seqToken.count
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }
}

/// Finds the first `@@<digits>@@` marker anywhere in a message (a server may wrap the
/// publisher's text in its own envelope) and returns the number, or nil.
/// At most 18 digits, so the value always fits an Int64.
func findSequenceMarker(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
    let at = UInt8(ascii: "@")
    let count = bytes.count
    var i = 0
    // Shortest marker is "@@0@@": 5 bytes.
    while i + 5 <= count {
        guard bytes[i] == at, bytes[i + 1] == at else {
            i += 1
            continue
        }
        var j = i + 2
        var value: UInt64 = 0
        while j < count, j - (i + 2) < 18, case let d = bytes[j], d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") {
            value = value * 10 + UInt64(d - UInt8(ascii: "0"))
            j += 1
        }
        if j > i + 2, j + 2 <= count, bytes[j] == at, bytes[j + 1] == at {
            return value
        }
        i += 1
    }
    return nil
}
