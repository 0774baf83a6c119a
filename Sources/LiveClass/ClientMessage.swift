// Every message a phone or console sends (docs/protocol.md, "Client → server"), decoded in one
// place with the role each needs. Adding one: its case, its decoding here, its handler in
// ClassSession.handle, the page, the doc.
import Foundation
import ClassEngine

enum ClientMessage: Equatable {
    case hello(role: Role, name: String?, token: String?)
    /// Clock sync; answered on the socket's loop, never queued behind class work.
    case time(id: Double?, t0: Double)
    case sync
    case done(step: Int)
    /// "I need to stop" raised (`on`) or taken back.
    case stop(on: Bool)
    case command(EngineCommand)
    case announce(String)
    /// The instructor has seen a participant's stop signal.
    case acknowledgeStop(client: Int64)
    /// A finished class runs again from the start (the console's "Run again").
    case runAgain

    /// Who may send it; checked once, in ClassSession.receive.
    var requiredRole: Role? {
        switch self {
        case .hello, .time, .sync: return nil
        case .done, .stop: return .participant
        case .command, .announce, .acknowledgeStop, .runAgain: return .instructor
        }
    }

    struct DecodeError: Error, Equatable { let code: String; let message: String }

    static func decode(_ bytes: [UInt8]) -> Result<ClientMessage, DecodeError> {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let type = obj["type"] as? String else {
            return .failure(DecodeError(code: "bad-json", message: "Expected a JSON object with a \"type\"."))
        }
        func bad(_ field: String) -> Result<ClientMessage, DecodeError> {
            .failure(DecodeError(code: "bad-field", message: "\"\(field)\" is missing or has the wrong type."))
        }
        func int(_ key: String) -> Int? { (obj[key] as? NSNumber)?.intValue }
        switch type {
        case "hello":
            guard let r = obj["role"] as? String, let role = Role(rawValue: r) else { return bad("role") }
            return .success(.hello(role: role, name: obj["name"] as? String, token: obj["token"] as? String))
        case "time":
            guard let t0 = (obj["t0"] as? NSNumber)?.doubleValue else { return bad("t0") }
            return .success(.time(id: (obj["id"] as? NSNumber)?.doubleValue, t0: t0))
        case "sync":
            return .success(.sync)
        case "done":
            guard let step = int("step") else { return bad("step") }
            return .success(.done(step: step))
        case "stop":
            guard let on = obj["on"] as? Bool else { return bad("on") }
            return .success(.stop(on: on))
        case "run-again":
            return .success(.runAgain)
        case "ack-stop":
            guard let client = int("client") else { return bad("client") }
            return .success(.acknowledgeStop(client: Int64(client)))
        case "announce":
            guard let text = obj["text"] as? String, !text.isEmpty else { return bad("text") }
            return .success(.announce(text))
        case "command":
            guard let name = obj["command"] as? String else { return bad("command") }
            switch name {
            case "start": return .success(.command(.start))
            case "pause": return .success(.command(.pause))
            case "resume": return .success(.command(.resume))
            case "next": return .success(.command(.next))
            case "previous": return .success(.command(.previous))
            case "restart": return .success(.command(.restart))
            case "end": return .success(.command(.end))
            case "extend":
                guard let s = int("seconds") else { return bad("seconds") }
                return .success(.command(.extend(seconds: s)))
            case "jump":
                guard let s = int("step") else { return bad("step") }
                return .success(.command(.jump(step: s)))
            default:
                return .failure(DecodeError(code: "bad-field", message: "Unknown command \"\(name)\"."))
            }
        default:
            return .failure(DecodeError(code: "unknown-type", message: "Unknown message type \"\(type)\"."))
        }
    }
}
