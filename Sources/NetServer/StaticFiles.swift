// Static files from the web root: content types, ETag / Last-Modified revalidation,
// gzip compressed once and kept, and nothing outside the root reachable.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HTTPCodec

final class StaticFiles: Sendable {
    let root: String          // canonical (realpath) web root, no trailing slash
    private let maxFileBytes = 8 << 20

    struct Entry: Sendable {
        let size: Int
        let mtime: Int
        let inode: UInt64
        let body: [UInt8]
        let gzipped: [UInt8]?
        let etag: String
        let contentType: String
    }
    private let cache = Locked<[String: Entry]>([:])

    init?(root: String) {
        guard let real = realpath(root, nil) else { return nil }
        self.root = String(cString: real)
        free(real)
    }

    /// Answers GET/HEAD for `request`, or nil when no file matches (the caller sends 404).
    func respond(to request: HTTPRequest) -> HTTPResponse? {
        guard var components = StaticPath.components(ofRequestPath: request.path) else {
            return .text(404, "not found")
        }
        if components.isEmpty || request.path.hasSuffix("/") { components.append("index.html") }
        let candidate = root + "/" + components.joined(separator: "/")
        // Resolve symlinks and require the result to stay under the root.
        guard let realC = realpath(candidate, nil) else { return nil }
        let real = String(cString: realC)
        free(realC)
        guard real.hasPrefix(root + "/") else { return .text(404, "not found") }
        var st = stat()
        guard stat(real, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        guard let entry = load(path: real, st: st) else { return .text(500, "could not read file") }

        var headers = HTTPHeaders()
        headers.add("Content-Type", entry.contentType)
        headers.add("ETag", entry.etag)
        headers.add("Last-Modified", HTTPDate.format(entry.mtime))
        // Revalidate every time (cheap with ETag): a class page must never run stale code.
        headers.add("Cache-Control", "no-cache")
        headers.add("Vary", "Accept-Encoding")
        if ConditionalRequest.isNotModified(headers: request.headers, etag: entry.etag, lastModified: entry.mtime) {
            return HTTPResponse(status: 304, headers: headers)
        }
        if let gz = entry.gzipped, AcceptEncoding.acceptsGzip(request.headers) {
            headers.add("Content-Encoding", "gzip")
            return HTTPResponse(status: 200, headers: headers, body: gz)
        }
        return HTTPResponse(status: 200, headers: headers, body: entry.body)
    }

    private func load(path: String, st: stat) -> Entry? {
        let mtime = Int(st.st_mtim.tv_sec)
        let size = Int(st.st_size)
        if let e = cache.withLock({ $0[path] }), e.size == size, e.mtime == mtime, e.inode == UInt64(st.st_ino) {
            return e
        }
        guard size <= maxFileBytes, let data = FileManager.default.contents(atPath: path) else { return nil }
        let body = [UInt8](data)
        let ext = (path as NSString).pathExtension
        let type = MIMEType.forExtension(ext)
        let compressible = type.hasPrefix("text/") || type.contains("javascript") || type.contains("json") || type.contains("svg") || type.contains("manifest")
        var gz: [UInt8]? = nil
        if compressible && body.count > 256, let z = Gzip.compress(body), z.count < body.count { gz = z }
        let etag = "\"\(String(UInt64(st.st_ino), radix: 36))-\(String(size, radix: 36))-\(String(mtime, radix: 36))\""
        let e = Entry(size: size, mtime: mtime, inode: UInt64(st.st_ino), body: body, gzipped: gz, etag: etag, contentType: type)
        cache.withLock { $0[path] = e }
        return e
    }
}
