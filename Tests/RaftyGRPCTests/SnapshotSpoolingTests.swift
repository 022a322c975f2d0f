import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import RaftCore
import RaftyGRPC
import RaftyTestSupport
import SwiftProtobuf
import Synchronization
import Testing

@testable import Rafty

/// A handler that offers writers into a snapshot store in a directory, as a running node does,
/// and keeps what arrives.
final class SpoolingHandler: RaftTransportHandler {
    let nodeID: NodeID = 7
    var peerInfo: PeerInfo { PeerInfo(id: 7, isVoter: false) }
    let store: FileSnapshotStore
    private let arrived = Mutex<(spooled: [SpooledSnapshot], inMemory: Int)>(([], 0))

    init(directory: String) throws { self.store = try FileSnapshotStore(directory: directory) }

    var spooled: [SpooledSnapshot] { self.arrived.withLock { $0.spooled } }
    var inMemory: Int { self.arrived.withLock { $0.inMemory } }
    func forget() { self.arrived.withLock { $0.spooled = [] } }

    func makeSnapshotWriter(for metadata: SnapshotMetadata) -> (any SnapshotWriter)? { try? self.store.makeWriter(for: metadata) }
    func receive(_ message: RaftCore.Message, spooled snapshot: SpooledSnapshot) async { self.arrived.withLock { $0.spooled.append(snapshot) } }
    func receive(_ message: RaftCore.Message, snapshot: [UInt8]?) async {
        if snapshot != nil { self.arrived.withLock { $0.inMemory += 1 } }
    }
    func handleForwarded(_ request: ForwardedRequest, timeout: Duration) async throws(RaftError) -> ForwardedAnswer { .result([]) }
}

@Suite("Snapshots received straight into the snapshot store", .serialized, .timeLimit(.minutes(1)))
struct SnapshotSpoolingTests {
    static func temporaries(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".tmp-") }
    }

    @Test("A streamed snapshot is written to the store as it arrives and committed by the node; one never installed leaves nothing behind")
    func spooledThenCommitted() async throws {
        let directory = TemporaryDirectory("rafty-spool")
        defer { directory.remove() }
        let handler = try SpoolingHandler(directory: directory.path)
        let bytes = (0..<(3 << 20) + 512 << 10).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let metadata = SnapshotMetadata(index: 10, term: 2, configuration: ClusterConfiguration(voters: [1, 7]))
        let message = RaftCore.Message(from: 1, to: 7, term: 2, body: .installSnapshot(metadata))
        try await withServedHandler(handler) { address, client in
            // Returns once the receiver answered: the next transfer to it is not dropped as a duplicate.
            #expect(await client.sendSnapshot(message, from: SnapshotSource(bytes: bytes), to: address))
            #expect(handler.spooled.count == 1)
            let spooled = try #require(handler.spooled.first)
            #expect(spooled.metadata == metadata && spooled.size == bytes.count && handler.inMemory == 0)
            #expect(try handler.store.list().isEmpty, "not visible before the node commits it")
            #expect(try Self.temporaries(directory.path).count == 1)
            let stored = try spooled.commit()
            #expect(stored.metadata == metadata && stored.size == bytes.count)
            #expect(try handler.store.openNewest()?.readAll() == bytes)
            #expect(throws: StorageError.self) { _ = try spooled.commit() }

            // A second one the node drops (stale, superseded) is discarded with its last reference.
            let later = SnapshotMetadata(index: 20, term: 2, configuration: ClusterConfiguration(voters: [1, 7]))
            let second = RaftCore.Message(from: 1, to: 7, term: 2, body: .installSnapshot(later))
            #expect(await client.sendSnapshot(second, from: SnapshotSource(bytes: [1, 2, 3]), to: address))
            #expect(handler.spooled.count == 2)
            #expect(try Self.temporaries(directory.path).count == 1)
            handler.forget()
            #expect(try Self.temporaries(directory.path).isEmpty)
            #expect(try handler.store.list().map(\.metadata.index) == [10])
        }
    }

    @Test("A snapshot whose checksum does not match is refused and its partial file removed")
    func damagedStreamLeavesNothing() async throws {
        let directory = TemporaryDirectory("rafty-spool")
        defer { directory.remove() }
        let handler = try SpoolingHandler(directory: directory.path)
        try await withServedHandler(handler) { address, _ in
            let port = Int(address.split(separator: ":")[1])!
            try await withGRPCClient(
                transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
            ) { grpcClient throws in
                let client = Rafty_V1_RaftPeer.Client(wrapping: grpcClient)
                await #expect {
                    _ = try await client.installSnapshot { writer in
                        try await writer.write(
                            .with {
                                $0.message = Rafty_V1_RaftMessage(
                                    RaftCore.Message(
                                        from: 1, to: 7, term: 1,
                                        body: .installSnapshot(
                                            SnapshotMetadata(index: 1, term: 1, configuration: ClusterConfiguration()))))
                                $0.totalSize = 6
                                $0.data = Data([1, 2, 3])
                            })
                        try await writer.write(
                            .with {
                                $0.offset = 3
                                $0.data = Data([4, 5, 6])
                                $0.last = true
                                $0.crc32C = 12345
                            })
                    }
                } throws: { error in
                    (error as? RPCError)?.code == .dataLoss
                }
                grpcClient.beginGracefulShutdown()
            }
            try await eventually("the partial snapshot is removed") { try Self.temporaries(directory.path).isEmpty }
            #expect(handler.spooled.isEmpty && handler.inMemory == 0)
            #expect(try handler.store.list().isEmpty)
        }
    }
}
