import HTTPCodec
public enum WebSocketOpcode: UInt8, Sendable { case continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 }
public struct WebSocketHandshakeConfig: Sendable {
    public var allowedOrigins: [String]; public var enableDeflate: Bool
    public init(allowedOrigins: [String] = [], enableDeflate: Bool = true) { self.allowedOrigins = allowedOrigins; self.enableDeflate = enableDeflate }
}
public struct DeflateParameters: Sendable, Equatable { public var serverNoContextTakeover: Bool; public var clientNoContextTakeover: Bool; public var serverMaxWindowBits: Int; public var clientMaxWindowBits: Int }
public struct WebSocketHandshakeAccepted: Sendable { public var response: HTTPResponse; public var deflate: DeflateParameters? }
public struct WebSocketHandshakeRejected: Error, Sendable { public var response: HTTPResponse }
public enum WebSocketHandshake {
    public static func accept(_ request: HTTPRequest, config: WebSocketHandshakeConfig, secure: Bool) -> Result<WebSocketHandshakeAccepted, WebSocketHandshakeRejected> { fatalError() }
}
public enum WebSocketFrameEncoder {
    public static func encode(opcode: WebSocketOpcode, payload: UnsafeRawBufferPointer, fin: Bool = true, rsv1: Bool = false) -> [UInt8] { [] }
    public static func encode(opcode: WebSocketOpcode, payload: [UInt8], fin: Bool = true, rsv1: Bool = false) -> [UInt8] { [] }
    public static func closePayload(code: UInt16, reason: String) -> [UInt8] { [] }
}
public struct WebSocketLimits: Sendable { public var maxMessageBytes = 1 << 20; public var compressionThreshold = 64; public init() {} }
public enum WebSocketEvent: Sendable, Equatable { case text([UInt8]), binary([UInt8]), ping([UInt8]), pong([UInt8]), send([UInt8]), closed(code: UInt16?, reason: String) }
public struct WebSocketConnectionMachine {
    public init(deflate: DeflateParameters?, limits: WebSocketLimits = WebSocketLimits()) {}
    public mutating func receive(_ bytes: UnsafeRawBufferPointer) -> [WebSocketEvent] { [] }
    public mutating func initiateClose(code: UInt16, reason: String) -> [UInt8] { [] }
    public var isClosing: Bool { false }
    public func frameMessage(opcode: WebSocketOpcode, payload: [UInt8], compressor: inout SharedDeflateCompressor) -> [UInt8] { [] }
}
public struct SharedDeflateCompressor { public init() {}; public mutating func compress(_ payload: UnsafeRawBufferPointer, windowBits: Int) -> [UInt8] { [] } }
