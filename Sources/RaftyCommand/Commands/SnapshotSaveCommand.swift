import ArgumentParser
internal import Foundation
import RaftyKV

/// `rafty snapshot save FILE`: the key-value state of the cluster, in a file (`GET /v1/snapshot`).
struct SnapshotSaveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "save",
        abstract: "Save the cluster's key-value state to FILE (checked before it is kept)."
    )

    @OptionGroup var client: ClientOptions

    @Argument(help: "Where to write the snapshot (replaced atomically).")
    var file: String

    func run() async throws {
        let (endpoint, bytes) = try await RaftyHTTPClient.with(self.client) { client in
            try await client.download("/v1/snapshot", to: self.file)
        }
        let summary: (keys: Int, index: UInt64, bytes: [UInt8])
        do {
            summary = try await SnapshotRestoreCommand.check(self.file)
        } catch {
            try? FileManager.default.removeItem(atPath: self.file)
            throw RaftyClientError.invalidResponse(endpoint: endpoint, reason: "the snapshot it sent is damaged: \(error)")
        }
        StandardStreams.writeLine(
            "saved \(summary.keys) keys at index \(summary.index) (\(bytes) bytes) from \(endpoint) to \(self.file)", to: .output)
    }
}
