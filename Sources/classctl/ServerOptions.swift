// The options every serving command shares (`start`, `serve`), resolved into Settings:
// built-in defaults < config file < environment < flags.
import ArgumentParser

struct ServerOptions: ParsableArguments {
    @Option(help: "Configuration file (see config/classctl.yaml).") var config: String?
    @Option(help: "Address to listen on (default 0.0.0.0: phones on the LAN can join).") var host: String?
    @Option(help: "Port (default 8080; 0 picks a free one).") var port: Int?
    @Option(name: .customLong("record-dir"), help: "Where recordings are written (default ./recordings).") var recordDir: String?
    @Option(name: .customLong("allowed-origin"), help: "Extra origin allowed to open WebSockets (repeatable).") var allowedOrigins: [String] = []
    @Option(name: .customLong("lead-ms"), help: "How far ahead step changes are scheduled so phones switch together.") var leadMs: Int?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel: String?
    @Option(name: .customLong("log-format"), help: "text or json.") var logFormat: String?
    @Option(name: .customLong("web-root"), help: "Folder with the pages (default: the web-static folder shipped with classctl).") var webRoot: String?
    @Option(name: .customLong("public-url"), help: "Base URL phones use, when behind a proxy (e.g. https://class.example.org).") var publicURL: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: serve https and wss (see docs/tls.md, `classctl cert`).") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert (passphrase, if any, from CLASSCTL_TLS_KEY_PASSPHRASE).") var tlsKey: String?
    @Option(name: .customLong("http-redirect-port"), help: "Also listen for plain HTTP on this port and redirect it to https.") var httpRedirectPort: Int?
    @Option(name: .customLong("trusted-proxy"), help: "A reverse proxy (address or range, repeatable) whose Forwarded / X-Forwarded-For headers give the client's address.") var trustedProxies: [String] = []

    func resolvedSettings(environment: [String: String], more: (inout Settings) -> Void = { _ in }) throws -> Settings {
        var s = Settings()
        if let path = config ?? environment["CLASSCTL_CONFIG"] { try s.apply(configFile: path) }
        try s.apply(environment: environment)
        if let host { s.host = host }
        if let port { s.port = port }
        if let recordDir { s.recordDir = recordDir }
        if !allowedOrigins.isEmpty { s.allowedOrigins = allowedOrigins }
        if let leadMs { s.leadMs = leadMs }
        if let logLevel { s.logLevel = logLevel }
        if let logFormat { s.logFormat = logFormat }
        if let webRoot { s.webRoot = webRoot }
        if let publicURL { s.publicURL = publicURL }
        if let tlsCert { s.tlsCert = tlsCert }
        if let tlsKey { s.tlsKey = tlsKey }
        if let httpRedirectPort { s.httpRedirectPort = httpRedirectPort }
        if !trustedProxies.isEmpty { s.trustedProxies = trustedProxies }
        more(&s)
        try s.validate()
        return s
    }
}
