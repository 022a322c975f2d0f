import ArgumentParser
internal import Foundation
import Rafty
import RaftyKV

/// `rafty snapshot restore FILE`: a fresh data directory that starts a one-member cluster with the
/// key-value state of a saved snapshot.
struct SnapshotRestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Make a fresh data directory that starts a one-member cluster holding FILE's key-value state."
    )

    @Argument(help: "A snapshot written by rafty snapshot save.")
    var file: String

    @Option(name: .customLong("data-dir"), help: "The new node's data directory (must hold no node yet).")
    var dataDirectory: String

    @Option(help: "The new node's id.")
    var id: UInt64

    @Option(help: "The new node's gRPC address: ip or ip:port.")
    var address = "127.0.0.1:50051"

    func validate() throws {
        guard self.id != 0 else { throw ValidationError("--id must be non-zero") }
    }

    /// Reads `path` whole and restores it into a scratch store: every check of a real restore.
    static func check(_ path: String) async throws -> (keys: Int, index: UInt64, bytes: [UInt8]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw RaftyClientError.input("cannot read \(path)") }
        let bytes = [UInt8](data)
        let store = KVStore()
        try await store.restore(from: SnapshotInput(bytes: bytes))
        return (store.count, store.lastAppliedIndex, bytes)
    }

    func run() async throws {
        let snapshot: (keys: Int, index: UInt64, bytes: [UInt8])
        do {
            snapshot = try await Self.check(self.file)
        } catch let error as RaftyClientError {
            throw error
        } catch {
            throw RaftyClientError.input("\(self.file) is not a usable snapshot: \(error)")
        }
        let restored = try DisasterRecovery.restore(
            snapshot: snapshot.bytes, index: snapshot.index, dataDirectory: self.dataDirectory, nodeID: self.id, address: self.address)
        StandardStreams.writeLine(
            "restored \(snapshot.keys) keys at index \(restored.index) into \(self.dataDirectory): node \(restored.nodeID) (\(restored.address)) "
                + "is the only member of a new cluster \(String(restored.clusterID, radix: 16))",
            to: .output)
        StandardStreams.writeLine(
            "next: rafty serve --id \(restored.nodeID) --address \(restored.address) --data-dir \(self.dataDirectory) ..., then rafty members add for each new member",
            to: .output)
    }
}
