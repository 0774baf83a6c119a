public struct HTTPLimits: Sendable { public init() {} }
public struct HTTPParseError: Error, Sendable, Equatable { public var status: Int; public var message: String }
public enum HTTPParseResult: Sendable, Equatable { case request(HTTPRequest), needMoreData, error(HTTPParseError) }
public struct HTTPRequestParser: Sendable {
    public init(limits: HTTPLimits = HTTPLimits()) {}
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {}
    public mutating func append(_ bytes: [UInt8]) {}
    public mutating func next() -> HTTPParseResult { .needMoreData }
    public mutating func takeBuffered() -> [UInt8] { [] }
    public var hasPartialRequest: Bool { false }
}
public enum StaticPath { public static func components(ofRequestPath path: String) -> [String]? { nil } }
public enum MIMEType { public static func forExtension(_ ext: String) -> String { "" } }
public enum HTTPDate { public static func format(_ s: Int) -> String { "" } }
public enum ConditionalRequest { public static func isNotModified(headers: HTTPHeaders, etag: String, lastModified: Int) -> Bool { false } }
public enum AcceptEncoding { public static func acceptsGzip(_ headers: HTTPHeaders) -> Bool { false } }
