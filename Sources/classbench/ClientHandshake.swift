/// The client side of the RFC 6455 opening handshake, without I/O: builds the
/// request and checks the server's response head.
struct ClientHandshake: Sendable {
    /// What the server agreed to, from a valid 101 response.
    struct Accepted: Equatable, Sendable {
        /// permessage-deflate was negotiated.
        var deflate = false
        /// The server resets its compressor after every message, so must we.
        var serverNoContextTakeover = false
    }

    enum Failure: Error, Equatable, CustomStringConvertible {
        case headTooLarge
        case notSwitchingProtocols(statusLine: String)
        case badAccept
        case missingUpgrade
        case unrequestedExtension(String)

        var description: String {
            switch self {
            case .headTooLarge: "response head larger than \(ClientHandshake.maxHeadSize) bytes"
            case .notSwitchingProtocols(let line): "expected 101 Switching Protocols, got '\(line)'"
            case .badAccept: "Sec-WebSocket-Accept does not match the key"
            case .missingUpgrade: "response lacks 'Upgrade: websocket'"
            case .unrequestedExtension(let ext): "server enabled an extension we did not offer: \(ext)"
            }
        }
    }

    static let maxHeadSize = 16 * 1024
    static let deflateOffer = "permessage-deflate; client_max_window_bits"

    let key: String
    let expectedAccept: String
    let offerDeflate: Bool

    /// `key` is the base64 of 16 random bytes; `acceptValue` computes the matching
    /// Sec-WebSocket-Accept (SHA-1 + base64, from the codec).
    init(key: String, offerDeflate: Bool, acceptValue: (String) -> String) {
        self.key = key
        self.expectedAccept = acceptValue(key)
        self.offerDeflate = offerDeflate
    }

    func request(target: String, host: String, extraHeaders: [String]) -> [UInt8] {
        var text = "GET \(target) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        text += "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        if offerDeflate { text += "Sec-WebSocket-Extensions: \(ClientHandshake.deflateOffer)\r\n" }
        for header in extraHeaders { text += header + "\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// Where the response head ends (the index just past CRLFCRLF), or nil while it is
    /// incomplete. Throws once the head has grown beyond any sane size.
    static func headLength(in bytes: [UInt8]) throws -> Int? {
        if bytes.count >= 4 {
            for i in 0...(bytes.count - 4)
            where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
                return i + 4
            }
        }
        if bytes.count > maxHeadSize { throw Failure.headTooLarge }
        return nil
    }

    /// Validates a complete response head (status line + headers + blank line).
    func validate(head: [UInt8]) throws -> Accepted {
        let text = String(decoding: head, as: UTF8.self)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: true).makeIterator()
        let statusLine = lines.next().map(String.init) ?? ""
        let status = statusLine.split(separator: " ", maxSplits: 2)
        guard status.count >= 2, status[0].hasPrefix("HTTP/1."), status[1] == "101" else {
            throw Failure.notSwitchingProtocols(statusLine: String(statusLine.prefix(80)))
        }
        var accept: Substring?
        var upgrade: Substring?
        var extensions: [Substring] = []
        while let line = lines.next() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingASCII(" \t")
            switch name {
            case "sec-websocket-accept": accept = value
            case "upgrade": upgrade = value
            case "sec-websocket-extensions": extensions.append(value)
            default: break
            }
        }
        guard upgrade?.lowercased() == "websocket" else { throw Failure.missingUpgrade }
        guard accept == Substring(expectedAccept) else { throw Failure.badAccept }

        var accepted = Accepted()
        for ext in extensions.flatMap({ $0.split(separator: ",") }) {
            let params = ext.split(separator: ";").map { $0.trimmingASCII(" \t") }
            guard let name = params.first, !name.isEmpty else { continue }
            guard name == "permessage-deflate", offerDeflate else {
                throw Failure.unrequestedExtension(String(name))
            }
            accepted.deflate = true
            accepted.serverNoContextTakeover = params.contains("server_no_context_takeover")
        }
        return accepted
    }
}

extension Substring {
    /// Trims the given ASCII characters from both ends (Foundation-free).
    func trimmingASCII(_ set: String) -> Substring {
        var s = self
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return s
    }
}
