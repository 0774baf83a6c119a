import Foundation
import ClassPlan
import ClassEngine
import QRCode
#if canImport(Glibc)
import Glibc
#endif

/// The links phones and the instructor use.
struct JoinLinks {
    let base: [String]       // base URLs, preferred first
    let hosts: [String]      // the host names / addresses in those URLs
    var preferred: String { base.first ?? "" }

    init(host: String, port: Int, publicURL: String?, secure: Bool = false) {
        if let publicURL {
            base = [publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL]
            hosts = [URL(string: publicURL)?.host ?? publicURL]
            return
        }
        let wildcard = host == "0.0.0.0" || host == "::" || host == "*" || host.isEmpty
        var hosts: [String] = []
        if wildcard {
            hosts = JoinLinks.lanAddresses()
            hosts.append("127.0.0.1")
        } else {
            hosts = [host]
        }
        let scheme = secure ? "https" : "http"
        self.hosts = hosts
        base = hosts.map { h in h.contains(":") ? "\(scheme)://[\(h)]:\(port)" : "\(scheme)://\(h):\(port)" }
    }

    /// IPv4 addresses of the machine's up, non-loopback interfaces.
    static func lanAddresses() -> [String] {
        var result: [String] = []
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var p: UnsafeMutablePointer<ifaddrs>? = first
        while let ifa = p {
            defer { p = ifa.pointee.ifa_next }
            guard let sa = ifa.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET),
                  (ifa.pointee.ifa_flags & UInt32(IFF_UP)) != 0, (ifa.pointee.ifa_flags & UInt32(IFF_LOOPBACK)) == 0 else { continue }
            var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                var a = sin.pointee.sin_addr
                _ = inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count))
            }
            result.append(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return result
    }
}

enum Banner {
    static func print(plan: ClassPlan, steps: [Step], code: String, token: String?, links: JoinLinks,
                      recording: String?, replaying: Bool, boundHost: String, port: Int, secure: Bool) {
        let totals = PlanTotals(plan)
        let minutes = (totals.estimatedMs + 59_999) / 60_000
        var out = ""
        out += "classctl — \(plan.title) (\(plan.goal.rawValue), \(steps.count) steps, about \(minutes) min)\(replaying ? " — replay" : "")\n\n"
        out += "  join:        \(links.preferred)/c/\(code)\n"
        for extra in links.base.dropFirst() { out += "               \(extra)/c/\(code)\n" }
        if let token {
            out += "  instructor:  \(links.preferred)/c/\(code)/instructor#token=\(token)\n"
        } else {
            out += "  instructor:  the instructor link from before still works (its token is not kept on this machine)\n"
        }
        out += "  recording:   \(recording ?? "off")\n"
        out += "  listening:   \(listening(host: boundHost, port: port, secure: secure))\n"
        if !secure {
            out += "  (plain HTTP: phones cannot keep their screens awake; see docs/tls.md for https)\n"
        }
        out += "\n"
        if let qr = try? QRCode("\(links.preferred)/c/\(code)") {
            out += "  Scan to join:\n"
            out += qr.terminalString()
            out += "\n"
        }
        out += replaying
            ? "  Keep the instructor link private: it controls the class. Ctrl-C ends the replay.\n"
            : "  Keep the instructor link private: it controls the class. Ctrl-C stops the server and keeps the\n  class open (starting classctl again resumes it); Ctrl-C twice, or End on the console, ends it.\n"
        FileHandle.standardOutput.write(Data(out.utf8))
    }

    /// The address the listening socket is bound to, as a URL: the wildcard addresses say so
    /// (`http://0.0.0.0:8080 (all interfaces)`), never a loopback address they are not.
    /// "*" and "" bind like getaddrinfo's passive lookup, whose first answer is 0.0.0.0.
    static func listening(host: String, port: Int, secure: Bool) -> String {
        let scheme = secure ? "https" : "http"
        switch host {
        case "0.0.0.0", "*", "": return "\(scheme)://0.0.0.0:\(port) (all interfaces)"
        case "::": return "\(scheme)://[::]:\(port) (all interfaces)"
        default: return host.contains(":") ? "\(scheme)://[\(host)]:\(port)" : "\(scheme)://\(host):\(port)"
        }
    }
}

import ArgumentParser

/// `classctl qr TEXT`: the QR code of any text, as the terminal or SVG rendering.
struct QR: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a QR code for a link (terminal or SVG).", shouldDisplay: false)
    @Argument(help: "Text or link to encode.") var text: String
    @Flag(help: "Print SVG instead of terminal blocks.") var svg = false
    func run() throws {
        do {
            let qr = try QRCode(text)
            FileHandle.standardOutput.write(Data((svg ? qr.svg() : qr.terminalString()).utf8))
        } catch {
            fail("cannot encode that text as a QR code: \(error)", code: 1)
        }
    }
}
