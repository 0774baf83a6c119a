// Encoding of the server's protocol messages (docs/protocol.md) and decoding of clients'.
import Foundation
import ClassPlan
import ClassEngine

enum Messages {
    static func classJSON(code: String, plan: ClassPlan, steps: [Step]) -> String {
        var o = JSONObject()
        o.add("code", code)
        o.add("title", plan.title)
        o.add("goal", plan.goal.rawValue)
        o.add("notes", plan.notes)
        o.add("safety", strings: plan.safety)
        let totals = PlanTotals(plan)
        o.add("totalMs", totals.estimatedMs)
        o.add("totalMeters", totals.distanceMeters)
        o.add("advanceWhenDone", plan.advanceWhenDone)
        o.add("steps", raw: JSONObject.array(steps.map(stepJSON)))
        return o.done
    }

    static func stepJSON(_ s: Step) -> String {
        var o = JSONObject()
        o.add("index", s.index)
        o.add("kind", s.kind.rawValue)
        o.add("title", s.title)
        o.add("round", s.round)
        o.add("rounds", s.rounds)
        o.add("durationMs", s.durationMs)
        o.add("distanceMeters", s.distanceMeters)
        o.add("speed", s.speed)
        o.add("incline", s.incline)
        o.add("isRest", s.isRestBetweenRounds)
        o.add("cues", raw: JSONObject.array(s.cues.map { c in
            var co = JSONObject(); co.add("atMs", c.atMs); co.add("text", c.text); return co.done
        }))
        return o.done
    }

    static func state(_ s: Snapshot, serverTime: Int64, effectiveAt: Int64?) -> String {
        var o = JSONObject()
        o.add("type", "state")
        o.add("seq", s.seq)
        o.add("status", s.status.rawValue)
        o.add("step", s.stepIndex)
        o.add("stepStartedAt", s.stepStartedAt)
        o.add("stepEndsAt", s.stepEndsAt)
        o.add("pausedAt", s.pausedAt)
        o.add("effectiveAt", effectiveAt ?? s.stepStartedAt ?? serverTime)
        o.add("classStartedAt", s.classStartedAt)
        o.add("finishedAt", s.finishedAt)
        o.add("serverTime", serverTime)
        return o.done
    }

    static func error(_ code: String, _ message: String) -> String {
        var o = JSONObject()
        o.add("type", "error"); o.add("code", code); o.add("message", message)
        return o.done
    }

    static func time(id: Double?, t0: Double, t1: Int64, t2: Int64) -> String {
        var o = JSONObject()
        o.add("type", "time"); o.add("id", id); o.add("t0", t0); o.add("t1", t1); o.add("t2", t2)
        return o.done
    }

    /// A client message, decoded from JSON text.
    enum ClientMessage {
        case hello(role: Role, name: String?, token: String?)
        case time(id: Double?, t0: Double)
        case sync
        case done(step: Int)
        case command(EngineCommand)
        case announce(String)
    }

    struct DecodeError: Error { let code: String; let message: String }

    static func decode(_ bytes: [UInt8]) -> Result<ClientMessage, DecodeError> {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let type = obj["type"] as? String else {
            return .failure(DecodeError(code: "bad-json", message: "Expected a JSON object with a \"type\"."))
        }
        func bad(_ field: String) -> Result<ClientMessage, DecodeError> {
            .failure(DecodeError(code: "bad-field", message: "\"\(field)\" is missing or has the wrong type."))
        }
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
            guard let step = (obj["step"] as? NSNumber)?.intValue else { return bad("step") }
            return .success(.done(step: step))
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
            case "restart": return .success(.command(.restartStep))
            case "end": return .success(.command(.end))
            case "extend":
                guard let s = (obj["seconds"] as? NSNumber)?.intValue else { return bad("seconds") }
                return .success(.command(.extend(seconds: s)))
            case "jump":
                guard let s = (obj["step"] as? NSNumber)?.intValue else { return bad("step") }
                return .success(.command(.jump(step: s)))
            default:
                return .failure(DecodeError(code: "bad-field", message: "Unknown command \"\(name)\"."))
            }
        default:
            return .failure(DecodeError(code: "unknown-type", message: "Unknown message type \"\(type)\"."))
        }
    }
}
