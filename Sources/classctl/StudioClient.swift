// `classctl start PLAN --server URL`: uploads the plan to a studio server and prints the same
// banner as a local class, for the class now living there.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ClassPlan
import QRCode

enum StudioClient {
    static func open(planPath: String?, server: String, settings: Settings) -> Never {
        guard let key = settings.studioKey else {
            fail("opening a class on a studio server needs its key: set CLASSCTL_STUDIO_KEY (or studio_key in the config)", code: 2)
        }
        let body: Data
        if let planPath {
            guard let data = FileManager.default.contents(atPath: planPath) else { fail("cannot read the plan \(planPath)", code: 1) }
            // Checked here first, so a mistake is reported with this file's name.
            let (plan, diagnostics) = PlanLoader.parse(data: Array(data), file: planPath)
            for d in diagnostics { FileHandle.standardError.write(Data((d.formatted + "\n").utf8)) }
            guard plan != nil else { fail("the plan \(planPath) is not valid; nothing was opened", code: 1) }
            body = data
        } else {
            body = Data(PlanWriter.yaml(BuiltinPlans.default).utf8)
        }
        let base = server.hasSuffix("/") ? String(server.dropLast()) : server
        guard let url = URL(string: base + "/api/classes"), url.scheme == "http" || url.scheme == "https" else {
            fail("--server must be an http:// or https:// URL, not '\(server)'", code: 2)
        }
        var request = URLRequest(url: url, timeoutInterval: 15)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        request.setValue("application/yaml", forHTTPHeaderField: "Content-Type")

        let done = DispatchSemaphore(value: 0)
        let result = ResultBox()
        URLSession.shared.dataTask(with: request) { data, response, error in
            result.set(data, (response as? HTTPURLResponse)?.statusCode, error)
            done.signal()
        }.resume()
        done.wait()
        let (data, status, error) = result.get()
        if let error { fail("cannot reach the studio server at \(base): \(error.localizedDescription)", code: 1) }
        let object = data.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        guard status == 201, let code = object["code"] as? String, let join = object["join"] as? String,
              let instructor = object["instructor"] as? String else {
            var message = (object["error"] as? String) ?? "unexpected answer (HTTP \(status ?? 0))"
            for d in object["diagnostics"] as? [[String: Any]] ?? [] {
                if let text = d["text"] as? String { message += "\n  " + text }
            }
            fail("the studio server did not open the class: \(message)", code: 1)
        }
        var out = "classctl — \(object["title"] as? String ?? "class") (\(object["steps"] as? Int ?? 0) steps) on \(base)\n\n"
        out += "  join:        \(join)\n"
        out += "  instructor:  \(instructor)\n"
        out += "  recording:   on the studio server\n\n"
        if let qr = try? QRCode(join) {
            out += "  Scan to join:\n" + qr.terminalString() + "\n"
        }
        out += "  Keep the instructor link private: it controls the class \(code), which lives on the studio server.\n"
        FileHandle.standardOutput.write(Data(out.utf8))
        Foundation.exit(0)
    }

    /// Carries the answer from URLSession's queue to the waiting main thread (the semaphore orders them).
    private final class ResultBox: @unchecked Sendable {
        private var value: (Data?, Int?, Error?) = (nil, nil, nil)
        func set(_ d: Data?, _ s: Int?, _ e: Error?) { value = (d, s, e) }
        func get() -> (Data?, Int?, Error?) { value }
    }
}
