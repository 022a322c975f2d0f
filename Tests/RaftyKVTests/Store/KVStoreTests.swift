import Rafty
import Testing

@testable import RaftyKV

@Suite("KVStore applies commands and answers queries")
struct KVStoreTests {
    private func apply(_ store: KVStore, _ commands: [[UInt8]], from index: UInt64 = 1) async throws -> [KVResult] {
        let committed = commands.enumerated().map { CommittedCommand(index: index + UInt64($0.offset), term: 1, bytes: $0.element) }
        return try await store.apply(committed).map { try KVResult(decoding: $0) }
    }

    private func get(_ store: KVStore, _ key: String) async throws -> [UInt8]? {
        try KVQuery.decodeAnswer(try await store.query(KVQuery.get(key: Array(key.utf8)).encoded()))
    }

    @Test("Put, delete and compare-and-set, with the log index in every result")
    func semantics() async throws {
        let store = KVStore()
        let k = Array("k".utf8)
        let results = try await self.apply(
            store,
            [
                KVCommand.put(key: k, value: Array("1".utf8)).encoded(),
                KVCommand.compareAndSet(key: k, expected: Array("2".utf8), new: Array("x".utf8)).encoded(),
                KVCommand.compareAndSet(key: k, expected: Array("1".utf8), new: Array("2".utf8)).encoded(),
                KVCommand.compareAndSet(key: k, expected: nil, new: Array("y".utf8)).encoded(),
                KVCommand.delete(key: k).encoded(),
                KVCommand.delete(key: k).encoded(),
                KVCommand.compareAndSet(key: k, expected: Array("2".utf8), new: Array("z".utf8)).encoded(),
                KVCommand.compareAndSet(key: k, expected: nil, new: Array("created".utf8)).encoded(),
            ], from: 10)
        #expect(results.map(\.index) == Array(10...17))
        #expect(
            results.map(\.outcome) == [
                .put, .compareAndSet(swapped: false), .compareAndSet(swapped: true), .compareAndSet(swapped: false),
                .deleted(existed: true), .deleted(existed: false), .compareAndSet(swapped: false), .compareAndSet(swapped: true),
            ])
        #expect(try await self.get(store, "k") == Array("created".utf8))
        #expect(try await self.get(store, "absent") == nil)
        #expect(store.lastAppliedIndex == 17)
    }

    @Test("An empty value is a value, distinct from absence; CAS can expect it")
    func emptyValue() async throws {
        let store = KVStore()
        let k = Array("e".utf8)
        let results = try await self.apply(
            store,
            [
                KVCommand.compareAndSet(key: k, expected: [], new: Array("no".utf8)).encoded(),
                KVCommand.put(key: k, value: []).encoded(),
                KVCommand.compareAndSet(key: k, expected: nil, new: Array("no".utf8)).encoded(),
                KVCommand.compareAndSet(key: k, expected: [], new: Array("yes".utf8)).encoded(),
            ])
        #expect(results.map(\.outcome) == [.compareAndSet(swapped: false), .put, .compareAndSet(swapped: false), .compareAndSet(swapped: true)])
        #expect(try await self.get(store, "e") == Array("yes".utf8))
    }

    @Test("An undecodable command applies as a no-op with an error result")
    func undecodableCommand() async throws {
        let store = KVStore()
        let results = try await self.apply(
            store,
            [
                KVCommand.put(key: Array("a".utf8), value: Array("1".utf8)).encoded(),
                [],
                [9, 1, 2, 3],
                Array(KVCommand.put(key: Array("b".utf8), value: Array("2".utf8)).encoded().dropLast()),
                KVCommand.put(key: Array("c".utf8), value: Array("3".utf8)).encoded(),
            ])
        #expect(results.map(\.index) == [1, 2, 3, 4, 5])
        #expect(results[0].outcome == .put && results[4].outcome == .put)
        for result in results[1...3] {
            guard case .invalidCommand(let reason) = result.outcome else {
                Issue.record("expected an error result, got \(result.outcome)")
                continue
            }
            #expect(!reason.isEmpty)
        }
        #expect(store.count == 2)
        #expect(try await self.get(store, "b") == nil)
        #expect(store.lastAppliedIndex == 5)
    }

    @Test("A malformed query throws")
    func malformedQuery() async {
        await #expect(throws: KVError.self) { try await KVStore().query([1, 1, 0]) }
    }
}
