import Foundation
import Testing

/// Runs `scripts/fuzz.sh` (the libFuzzer targets in `Fuzz/`: peer messages into `RawNode`, damaged
/// storage files, RaftyKV decoding) for `RAFTY_FUZZ_SECONDS` each (default 15; 0 skips), so that
/// the README's test command runs them too.
@Suite("libFuzzer targets", .timeLimit(.minutes(10)))
struct FuzzTargetTests {
    static let seconds = ProcessInfo.processInfo.environment["RAFTY_FUZZ_SECONDS"] ?? "15"

    @Test("Every fuzz target builds and runs without a crash", .enabled(if: Self.seconds != "0"))
    func fuzz() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [root.appendingPathComponent("scripts/fuzz.sh").path]
        var environment = ProcessInfo.processInfo.environment
        environment["FUZZ_SECONDS"] = Self.seconds
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output.suffix(4000))")
        for target in ["peer-message", "storage", "kv"] {
            let line = output.split(separator: "\n").first { $0.hasPrefix("fuzz: \(target) stat::number_of_executed_units:") }
            let runs = line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
            #expect(runs > 1_000, "\(target) ran \(runs) inputs")
            print("fuzz: \(target): \(runs) inputs in \(Self.seconds) s")
        }
    }
}
