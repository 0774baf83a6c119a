// swift-tools-version:6.0
import PackageDescription

// Layering (see docs/architecture.md):
//   codecs (no I/O)      HTTPCodec, WebSocketCodec (+ CZlib for permessage-deflate), RESPCodec (Redis)
//   transport            NetServer (sockets, Dispatch event loops, connections, static files, broadcast),
//                        RedisClient (Redis commands and pub/sub on a NetServer loop)
//   class domain         ClassPlan (plan files, validation), ClassEngine (state machine, recording)
//   live server          LiveClass (WebSocket protocol joining NetServer and ClassEngine)
//   cluster              ClassCluster (classes shared across `serve --redis` nodes; LiveClass stays Redis-free)
//   executables          classctl, ws-echo, classbench
let package = Package(
    name: "classctl",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "classctl", targets: ["classctl"]),
        .executable(name: "ws-echo", targets: ["ws-echo"]),
        .executable(name: "classbench", targets: ["classbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // System libraries, found through pkg-config.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // <sys/epoll.h>, which Swift's Glibc module leaves out (the server's pollers, classbench's loop).
        .systemLibrary(name: "CEpoll"),

        // Pure codecs: bytes in, values or errors out. No sockets, no Dispatch.
        .target(name: "HTTPCodec"),
        .target(name: "WebSocketCodec", dependencies: ["HTTPCodec", "CZlib"]),
        // RESP2 replies, requests, redis:// URLs.
        .target(name: "RESPCodec"),

        // Transport: sockets, epoll pollers run on Dispatch queues, connections, static files, broadcast.
        .target(name: "NetServer", dependencies: [
            "HTTPCodec", "WebSocketCodec", "CZlib", "CEpoll", "TLS",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Redis client on a NetServer loop: pipelined commands, pub/sub, reconnects, timeouts.
        .target(name: "RedisClient", dependencies: ["NetServer", "RESPCodec"]),

        // TLS over system OpenSSL: byte-driven sessions (memory BIOs), certificate loading, local CA.
        .target(name: "TLS", dependencies: ["COpenSSL"]),

        // Class domain: knows nothing about sockets.
        .target(name: "ClassPlan", dependencies: [.product(name: "Yams", package: "Yams")]),
        .target(name: "ClassEngine", dependencies: ["ClassPlan"]),

        // QR codes for the join link: pure encoder plus terminal and SVG renderers.
        .target(name: "QRCode"),

        // The live class: WebSocket protocol joining the engine to the network.
        .target(name: "LiveClass", dependencies: [
            "NetServer", "HTTPCodec", "WebSocketCodec", "ClassPlan", "ClassEngine", "QRCode", "TLS",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Classes shared across nodes through Redis: leases, relays, the recording as a stream.
        .target(name: "ClassCluster", dependencies: [
            "LiveClass", "RedisClient", "RESPCodec", "NetServer", "ClassEngine", "ClassPlan", "TLS",
            .product(name: "Logging", package: "swift-log"),
        ]),

        .executableTarget(name: "classctl", dependencies: [
            "LiveClass", "ClassCluster", "NetServer", "ClassPlan", "ClassEngine", "QRCode", "TLS",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "ws-echo", dependencies: [
            "NetServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "classbench", dependencies: [
            "WebSocketCodec", "CZlib", "CEpoll", "COpenSSL", "TLS",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Blocking loopback client shared by the socket-level tests (independent of our codecs).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "HTTPCodecTests", dependencies: ["HTTPCodec"]),
        .testTarget(name: "WebSocketCodecTests", dependencies: ["WebSocketCodec"]),
        .testTarget(name: "NetServerTests", dependencies: ["NetServer", "HTTPCodec", "WebSocketCodec", "TestSupport"]),
        .testTarget(name: "ClassPlanTests", dependencies: ["ClassPlan"], exclude: ["fixtures"]),
        .testTarget(name: "TLSTests", dependencies: ["TLS", "COpenSSL", "TestSupport"]),
        .testTarget(name: "ClassEngineTests", dependencies: ["ClassEngine", "ClassPlan"]),
        .testTarget(name: "QRCodeTests", dependencies: ["QRCode"]),
        .testTarget(name: "classbenchTests", dependencies: ["classbench", "WebSocketCodec", "CZlib", "NetServer", "TLS"]),
        .testTarget(name: "RESPCodecTests", dependencies: ["RESPCodec"]),
        .testTarget(name: "RedisClientTests", dependencies: ["RedisClient", "RESPCodec", "NetServer"]),
        .testTarget(name: "ClassClusterTests", dependencies: ["ClassCluster", "LiveClass", "RedisClient", "RESPCodec", "NetServer", "ClassEngine", "ClassPlan"]),
        .testTarget(name: "LiveClassTests", dependencies: ["LiveClass", "NetServer", "ClassEngine", "ClassPlan", "TestSupport"]),
    ]
)
