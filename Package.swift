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
    ],
    targets: [
        // The Raft algorithm: a deterministic value type, standard library only.
        .target(name: "RaftCore", swiftSettings: swiftSettings),
        // Seeded cluster simulator, fault injection and linearizability checking (test support).
        .target(name: "RaftySimulation", dependencies: ["RaftCore"], swiftSettings: swiftSettings),
        .testTarget(name: "RaftCoreTests", dependencies: ["RaftCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "RaftySimulationTests",
            dependencies: ["RaftySimulation", "RaftCore"],
            swiftSettings: swiftSettings
        ),
    ]
)
