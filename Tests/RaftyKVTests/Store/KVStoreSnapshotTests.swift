import Rafty
import Synchronization
import Testing

@testable import RaftyKV

@Suite("KVStore snapshots stream and validate")
struct KVStoreSnapshotTests {
    /// Snapshots `store`, keeping the chunks as the runtime would receive them.
    static func snapshotChunks(_ store: KVStore) async throws -> [[UInt8]] {
        var chunks: [[UInt8]] = []
        try await store.snapshot(to: SnapshotOutput { chunks.append($0) })
        return chunks
    }

    static func filled(_ entries: [(String, String)], index: UInt64 = 3) async throws -> KVStore {
        let store = KVStore()
        let commands = entries.enumerated().map { offset, entry in
            CommittedCommand(index: index + UInt64(offset), term: 1, bytes: KVCommand.put(key: Array(entry.0.utf8), value: Array(entry.1.utf8)).encoded())
        }
        _ = try await store.apply(commands)
        return store
    }

    static func contents(_ store: KVStore) -> [[UInt8]: [UInt8]] {
        store.state.withLock { $0.values }
    }

    @Test("10,000 keys with values up to 64 KiB survive a snapshot and restore, streamed in several chunks")
    func largeRoundTrip() async throws {
        let store = KVStore()
        var commands: [CommittedCommand] = []
        for i in 0..<10_000 {
            let size = i % 500 == 0 ? 64 << 10 : i % 300
            let value = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }
            let key = Array("key-\(i)".utf8) + (i % 7 == 0 ? [0, 255] : [])
            commands.append(CommittedCommand(index: UInt64(i + 1), term: 1, bytes: KVCommand.put(key: key, value: value).encoded()))
        }
        _ = try await store.apply(commands)
        #expect(store.count == 10_000)

        let chunks = try await Self.snapshotChunks(store)
        #expect(chunks.count > 10, "streamed in many chunks, not one buffer")
        #expect(chunks.dropLast().allSatisfy { $0.count <= (64 << 10) * 2 + 64 }, "chunks stay near 64 KiB")

        let restored = KVStore()
        try await restored.restore(from: SnapshotInput(bytes: chunks.flatMap { $0 }))
        #expect(Self.contents(restored) == Self.contents(store))
        #expect(restored.lastAppliedIndex == 10_000)

        let again = try await Self.snapshotChunks(restored)
        #expect(again.flatMap { $0 } == chunks.flatMap { $0 }, "snapshots of equal states are identical")
    }

    @Test("Chunks taken before later writes, read after them, hold the state they were taken at (GET /v1/snapshot reads them lazily)")
    func lazyChunksAreConsistent() async throws {
        let store = try await Self.filled((0..<3_000).map { ("key-\($0)", String(repeating: "v", count: 100)) })
        let before = Self.contents(store)
        let chunks = store.snapshotChunks()
        _ = try await store.apply([
            CommittedCommand(index: 10_000, term: 2, bytes: KVCommand.put(key: Array("key-1".utf8), value: [1]).encoded()),
            CommittedCommand(index: 10_001, term: 2, bytes: KVCommand.delete(key: Array("key-2".utf8)).encoded()),
        ])
        let produced = Array(chunks)
        #expect(produced.map(\.count).reduce(0, +) == chunks.byteCount)
        #expect(produced.count > 2 && produced.dropLast().allSatisfy { $0.count < KVStore.snapshotChunkBytes + 1024 })
        let restored = KVStore()
        try await restored.restore(from: SnapshotInput(bytes: produced.flatMap { $0 }))
        #expect(Self.contents(restored) == before && restored.lastAppliedIndex == 3 + 2_999)
    }

    @Test(
        "A captured view (StateMachine.snapshotView) written after later applies holds the state it was captured at: byte for byte what snapshot(to:) wrote then"
    )
    func capturedView() async throws {
        let store = try await Self.filled((0..<2_000).map { ("key-\($0)", String(repeating: "v", count: 100)) })
        let expected = try await Self.snapshotChunks(store).flatMap { $0 }
        let view = try #require(try await store.snapshotView())
        _ = try await store.apply([
            CommittedCommand(index: 10_000, term: 2, bytes: KVCommand.put(key: Array("key-1".utf8), value: [1]).encoded()),
            CommittedCommand(index: 10_001, term: 2, bytes: KVCommand.delete(key: Array("key-2".utf8)).encoded()),
        ])
        var written: [UInt8] = []
        try await view.write(to: SnapshotOutput { written += $0 })
        #expect(written == expected)
        #expect(try await Self.snapshotChunks(store).flatMap { $0 } != expected, "the store itself moved on")
    }

    @Test("An empty store round-trips")
    func emptyRoundTrip() async throws {
        let bytes = try await Self.snapshotChunks(KVStore()).flatMap { $0 }
        let store = try await Self.filled([("x", "1")])
        try await store.restore(from: SnapshotInput(bytes: bytes))
        #expect(store.count == 0 && store.lastAppliedIndex == 0)
    }

    @Test("A snapshot cut at any offset throws and leaves the previous state intact")
    func truncated() async throws {
        let source = try await Self.filled((0..<20).map { ("k\($0)", String(repeating: "v", count: $0)) })
        let bytes = try await Self.snapshotChunks(source).flatMap { $0 }
        let target = try await Self.filled([("previous", "state")], index: 99)
        let before = Self.contents(target)
        for end in 0..<bytes.count {
            await #expect(throws: KVError.self, "cut at \(end)") {
                try await target.restore(from: SnapshotInput(bytes: Array(bytes[..<end])))
            }
        }
        await #expect(throws: KVError.self) { try await target.restore(from: SnapshotInput(bytes: bytes + [0])) }
        #expect(Self.contents(target) == before)
        #expect(target.lastAppliedIndex == 99)
    }

    @Test("A snapshot with any byte flipped throws and leaves the previous state intact")
    func corrupted() async throws {
        let source = try await Self.filled((0..<20).map { ("k\($0)", String(repeating: "v", count: $0)) })
        let bytes = try await Self.snapshotChunks(source).flatMap { $0 }
        let target = try await Self.filled([("previous", "state")], index: 99)
        let before = Self.contents(target)
        for offset in bytes.indices {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var corrupt = bytes
                corrupt[offset] ^= mask
                await #expect(throws: KVError.self, "byte \(offset) ^ \(mask)") {
                    try await target.restore(from: SnapshotInput(bytes: corrupt))
                }
            }
        }
        #expect(Self.contents(target) == before)
        #expect(target.lastAppliedIndex == 99)
        try await target.restore(from: SnapshotInput(bytes: bytes))
        #expect(Self.contents(target) == Self.contents(source))
    }

    @Test("A snapshot whose storage fails mid-read throws that error and keeps the state")
    func failingInput() async throws {
        struct Failure: Error {}
        let source = try await Self.filled((0..<100).map { ("k\($0)", "value \($0)") })
        let bytes = try await Self.snapshotChunks(source).flatMap { $0 }
        let target = try await Self.filled([("previous", "state")])
        let before = Self.contents(target)
        var offset = 0
        let input = SnapshotInput(size: bytes.count) { maxBytes in
            guard offset < bytes.count / 2 else { throw Failure() }
            let end = min(bytes.count, offset + maxBytes)
            defer { offset = end }
            return Array(bytes[offset..<end])
        }
        await #expect(throws: Failure.self) { try await target.restore(from: input) }
        #expect(Self.contents(target) == before)
    }
}
