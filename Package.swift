// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Rafty",
    platforms: [.macOS("15.0")],
    products: [
        .library(name: "RaftCore", targets: ["RaftCore"]),
        .library(name: "RaftySimulation", targets: ["RaftySimulation"]),
        .library(name: "Rafty", targets: ["Rafty"]),
        .library(name: "RaftyGRPC", targets: ["RaftyGRPC"]),
        .library(name: "RaftyKV", targets: ["RaftyKV"]),
        .library(name: "RaftyTesting", targets: ["RaftyTesting"]),
        .executable(name: "rafty", targets: ["RaftyCommand"]),
        .executable(name: "rafty-storage-bench", targets: ["RaftyStorageBenchmark"]),
        .executable(name: "rafty-node-bench", targets: ["RaftyNodeBenchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        // Peer TLS: reading node identities from certificates, and `rafty certs`. Already built
        // for grpc-swift-nio-transport and async-http-client.
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        // HTTPS for the clients (already built for async-http-client).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // `swift package generate-documentation` (a command plugin: nothing of it is linked).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
    ],
    targets: [
        // The Raft algorithm: a deterministic value type, standard library only.
        .target(name: "RaftCore", swiftSettings: swiftSettings),
        // Seeded cluster simulator, fault injection and linearizability checking (test support).
        // Its node runs host the runtime's own node state machine (Rafty's NodeEngine).
        .target(name: "RaftySimulation", dependencies: ["RaftCore", "Rafty"], swiftSettings: swiftSettings),
        // The node runtime: event loop, storage, transport protocol.
        .target(
            name: "Rafty",
            dependencies: [
                "RaftCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The gRPC transport (HTTP/2, protobuf); generated code lives in Sources/RaftyGRPC/Generated.
        .target(
            name: "RaftyGRPC",
            dependencies: [
                "Rafty",
                "RaftCore",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Metrics", package: "swift-metrics"),
                // The client's check of a peer server's certificate (already built for the transport).
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The replicated key-value store and its HTTP API (Hummingbird).
        .target(
            name: "RaftyKV",
            dependencies: [
                "Rafty",
                "RaftCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The `rafty` executable: demo, serve, HTTP clients, bench.
        .executableTarget(
            name: "RaftyCommand",
            dependencies: [
                "Rafty",
                "RaftCore",
                "RaftyGRPC",
                "RaftyKV",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "RaftyStorageBenchmark",
            dependencies: ["Rafty", "RaftCore"],
            path: "Benchmarks/RaftyStorageBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "RaftyNodeBenchmark",
            dependencies: ["Rafty", "RaftCore"],
            path: "Benchmarks/RaftyNodeBenchmark",
            swiftSettings: swiftSettings
        ),
        // A cluster harness for users' tests: the nodes of a cluster in one process, in memory or
        // over loopback gRPC.
        .target(
            name: "RaftyTesting",
            dependencies: [
                "Rafty", "RaftCore", "RaftyGRPC", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        // Helpers shared by the test targets.
        .target(
            name: "RaftyTestSupport",
            dependencies: ["Rafty", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "RaftCoreTests", dependencies: ["RaftCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "RaftyTests",
            dependencies: [
                "Rafty", "RaftCore", "RaftyTestSupport", "RaftyTesting",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RaftyGRPCTests",
            dependencies: [
                "RaftyGRPC",
                "Rafty",
                "RaftCore",
                "RaftyTestSupport",
                "RaftyTesting",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RaftyKVTests",
            dependencies: [
                "RaftyKV",
                "Rafty",
                "RaftCore",
                "RaftyTestSupport",
                "RaftyTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The CLI against a fake server, and the `rafty` binary as separate processes.
        .testTarget(
            name: "RaftyCommandTests",
            dependencies: [
                "RaftyCommand",
                "RaftyTestSupport",
                "RaftyTesting",
                // `rafty serve` flags are checked against the node configuration they build.
                "Rafty",
                // The chaos test checks real processes' histories with the simulator's checker.
                "RaftySimulation",
                "RaftCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // A fake HTTP API server for the client tests.
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The runtime scenarios, once per transport, on RaftyTesting's harness.
        .testTarget(
            name: "RaftyTestingTests",
            dependencies: ["RaftyTesting", "Rafty", "RaftCore", "RaftyTestSupport", "RaftyGRPC"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RaftySimulationTests",
            dependencies: ["RaftySimulation", "RaftCore"],
            swiftSettings: swiftSettings
        ),
    ]
)
