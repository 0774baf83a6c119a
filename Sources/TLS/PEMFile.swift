// Reading certificate and key files and splitting them into PEM blocks, before OpenSSL sees
// them: this is what lets a configuration error say "not PEM" or "no key in this file"
// instead of OpenSSL's generic "no start line".
#if canImport(Glibc)
import Glibc
#endif

/// One `-----BEGIN LABEL----- ... -----END LABEL-----` block, bytes included verbatim.
struct PEMBlock: Equatable {
    var label: String
    var bytes: [UInt8]
}

enum PEMFile {
    /// Certificate chains and keys are a few KiB; anything this big is the wrong file.
    static let maximumSize = 1 << 20

    /// The whole file, or a configuration error naming it.
    static func read(_ path: String, role: TLSConfigurationError.FileRole) throws(TLSConfigurationError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw .fileMissing(role, path) }
            throw .fileUnreadable(role, path, String(cString: strerror(code)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .fileUnreadable(role, path, String(cString: strerror(errno))) }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw .fileUnreadable(role, path, "it is a directory, not a file") }
        if st.st_size > maximumSize {
            throw .notPEM(role, path, detail: "\(st.st_size) bytes is far too large for a certificate or key")
        }

        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw .fileUnreadable(role, path, String(cString: strerror(errno)))
            }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > maximumSize {
                throw .notPEM(role, path, detail: "more than \(maximumSize) bytes is far too large for a certificate or key")
            }
        }
        return bytes
    }

    /// The PEM blocks of `bytes` in file order. Text outside blocks (comments such as
    /// `openssl x509 -text` output) is ignored, as OpenSSL does; an unterminated block is dropped.
    static func blocks(in bytes: [UInt8]) -> [PEMBlock] {
        var result: [PEMBlock] = []
        var open: (label: String, start: Int)?
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            let next = lineEnd < bytes.count ? lineEnd + 1 : lineEnd
            let line = trimmed(bytes[lineStart..<lineEnd])
            if let label = boundaryLabel(line, prefix: "-----BEGIN ") {
                open = (label, lineStart)
            } else if let label = boundaryLabel(line, prefix: "-----END "), let current = open, current.label == label {
                result.append(PEMBlock(label: label, bytes: Array(bytes[current.start..<next])))
                open = nil
            }
            lineStart = next
        }
        return result
    }

    private static func trimmed(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var line = line
        while let last = line.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
            line = line.dropLast()
        }
        while let first = line.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { line = line.dropFirst() }
        return line
    }

    private static func boundaryLabel(_ line: ArraySlice<UInt8>, prefix: String) -> String? {
        let prefixBytes = Array(prefix.utf8)
        let suffix = Array("-----".utf8)
        guard line.count >= prefixBytes.count + suffix.count,
              line.starts(with: prefixBytes), line.suffix(suffix.count).elementsEqual(suffix) else { return nil }
        let label = line.dropFirst(prefixBytes.count).dropLast(suffix.count)
        guard label.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        return String(decoding: label, as: UTF8.self)
    }
}
