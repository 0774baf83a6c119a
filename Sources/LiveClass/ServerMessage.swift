// Every message the server sends (docs/protocol.md, "Server → client"), encoded in one place.
import Foundation
import ClassPlan
import ClassEngine

enum ServerMessage {
    /// Stands for the class in a welcome a cluster's relay completes (`completingWelcome`).
    static let classPlaceholder = #""@class""#
    private static let placeholderField = Array(#""class":"@class""#.utf8)

    /// A welcome with the class put in for the placeholder (the first `"class":` field: it
    /// comes before any text a person wrote, whose quotes are escaped anyway).
    static func completingWelcome(_ text: [UInt8], classJSON: String) -> [UInt8] {
        let f = placeholderField
        guard text.count >= f.count else { return text }
        var i = 0
        while i + f.count <= text.count {
            if text[i] == f[0] && text[i..<(i + f.count)].elementsEqual(f) {
                return Array(text[..<i]) + Array(#""class":"#.utf8) + Array(classJSON.utf8) + Array(text[(i + f.count)...])
            }
            i += 1
        }
        return text
    }

    /// The class as phones show it; built once per class. Steps in their one Codable shape.
    static func classJSON(code: String, plan: ClassPlan, steps: [Step], replaySpeed: Double? = nil) -> String {
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
        o.add("replay", replaySpeed)
        o.add("announcements", strings: plan.announcements ?? [])
        let calls = plan.calls ?? TimerCalls()
        var c = JSONObject()
        c.add("leadIn", calls.leadIn); c.add("halfway", calls.halfway); c.add("lastTen", calls.lastTen)
        o.add("calls", raw: c.done)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let stepsJSON = (try? encoder.encode(steps)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        o.add("steps", raw: stepsJSON)
        return o.done
    }

    static func welcome(role: Role, clientID: UInt64, serverTime: Int64, classJSON: String, state: String,
                        presence: String, alerts: String?, announcements: [String] = [], joinLink: String? = nil,
                        summary: String? = nil) -> String {
        var o = JSONObject()
        o.add("type", "welcome")
        o.add("protocol", 1)
        o.add("serverTime", serverTime)
        o.add("role", role.rawValue)
        o.add("clientId", Int64(clientID))
        o.add("class", raw: classJSON)
        o.add("state", raw: state)
        o.add("presence", raw: presence)
        if let alerts { o.add("alerts", raw: alerts) }
        o.add("announcements", raw: JSONObject.array(announcements))
        o.add("join", joinLink)
        if let summary { o.add("summary", raw: summary) }
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
        // A welcome or sync carries the instant the state took (or takes) effect: a command made
        // a lead ahead is not applied early by a phone that joins within that lead.
        o.add("effectiveAt", effectiveAt ?? (s.at > 0 ? s.at : serverTime))
        o.add("classStartedAt", s.classStartedAt)
        o.add("finishedAt", s.finishedAt)
        o.add("serverTime", serverTime)
        return o.done
    }

    /// Who is here. Names only for instructors.
    /// The HTTP view of a class (`GET /api/classes/CODE`): plan, state and presence, for a
    /// session and for a cluster node's relay alike.
    static func snapshot(classJSON: String, view v: PublicView, serverTime: Int64) -> String {
        var o = JSONObject()
        o.add("class", raw: classJSON)
        o.add("state", raw: state(v.snapshot, serverTime: serverTime, effectiveAt: nil))
        o.add("presence", raw: presence(participants: v.participants, instructors: v.instructors,
                                        done: v.done, step: v.snapshot.stepIndex, names: nil))
        return o.done
    }

    static func presence(participants: Int, instructors: Int, done: Int, step: Int?, names: [String]?,
                         doneNames: [String]? = nil) -> String {
        var o = JSONObject()
        o.add("type", "presence")
        o.add("participants", participants)
        o.add("instructors", instructors)
        o.add("done", done)
        o.add("step", step)
        if let names { o.add("names", strings: names) }
        if let doneNames { o.add("doneNames", strings: doneNames) }
        return o.done
    }

    static func announce(id: Int, text: String, at: Int64) -> String {
        var o = JSONObject()
        o.add("type", "announce"); o.add("id", id); o.add("text", text); o.add("at", at)
        return o.done
    }

    /// A participant's stop signal waiting for the instructor.
    struct StopAlert: Sendable, Equatable {
        var client: Int64
        var name: String?
        var since: Int64
        var step: Int?
        var online: Bool
    }

    /// To instructors: every stop signal not yet acknowledged, oldest first.
    static func alerts(_ list: [StopAlert]) -> String {
        var o = JSONObject()
        o.add("type", "alerts")
        o.add("alerts", raw: alertList(list))
        return o.done
    }

    static func alertList(_ list: [StopAlert]) -> String {
        JSONObject.array(list.map { a in
            var o = JSONObject()
            o.add("client", a.client); o.add("name", a.name); o.add("since", a.since); o.add("step", a.step)
            o.add("online", a.online)
            return o.done
        })
    }

    /// To the participant who raised it: where their stop signal stands.
    static func stopStatus(on: Bool, acknowledged: Bool) -> String {
        var o = JSONObject()
        o.add("type", "stop"); o.add("on", on); o.add("acknowledged", acknowledged)
        return o.done
    }

    /// When a class finishes (and in the welcome of a finished class): what was run.
    static func summary(steps: [(Step, Int64)], totalMs: Int64) -> String {
        var o = JSONObject()
        o.add("type", "summary")
        o.add("stepsRun", steps.count)
        o.add("totalMs", totalMs)
        o.add("meters", steps.reduce(0.0) { $0 + ($1.0.distanceMeters ?? 0) })
        o.add("steps", raw: JSONObject.array(steps.map { step, ran in
            var s = JSONObject()
            s.add("index", step.index); s.add("title", step.title); s.add("ranMs", ran); s.add("distanceMeters", step.distanceMeters)
            return s.done
        }))
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
}
