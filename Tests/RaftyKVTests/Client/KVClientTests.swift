import Rafty
import RaftyKV
import RaftyTestSupport
import Testing

@Suite("KVClient over a single-node cluster", .timeLimit(.minutes(1)))
struct KVClientTests {
    @Test("Typed put, get, delete and compare-and-set; limits refused before proposing")
    func typedAPI() async throws {
        let cluster = KVTestCluster(size: 1, limits: KVLimits(maxKeyBytes: 8, maxValueBytes: 8))
        try await withThrowingDiscardingTaskGroup { group in
            try cluster.start(1, in: &group)
            _ = try await cluster.leader()
            let kv = KVClient(node: cluster.node(1), limits: KVLimits(maxKeyBytes: 8, maxValueBytes: 8))
            let k = Array("k".utf8)
            let first = try await kv.put(k, value: [1])
            #expect(try await kv.get(k) == [1])
            #expect(try await kv.get(k, consistency: .lease) == [1])
            #expect(try await kv.get(k, consistency: .stale) == [1])
            #expect(try await kv.compareAndSet(k, expected: [2], new: [3]) == .conflict(index: first + 1))
            #expect(try await kv.compareAndSet(k, expected: [1], new: [3]) == .swapped(index: first + 2))
            #expect(try await kv.compareAndSet(Array("n".utf8), expected: nil, new: [4]) == .swapped(index: first + 3))
            let deleted = try await kv.delete(k)
            #expect(deleted.existed && deleted.index == first + 4)
            #expect(try await kv.delete(k).existed == false)
            #expect(try await kv.get(k) == nil)

            let before = cluster.node(1).status.commitIndex
            await #expect { try await kv.put([], value: [1]) } throws: { ($0 as? KVError)?.code == .invalidKey }
            await #expect { try await kv.put(k, value: [UInt8](repeating: 0, count: 9)) } throws: { ($0 as? KVError)?.code == .valueTooLarge }
            await #expect { try await kv.put(Array("123456789".utf8), value: []) } throws: { ($0 as? KVError)?.code == .keyTooLarge }
            #expect(cluster.node(1).status.commitIndex == before, "nothing was proposed")

            try await cluster.stopAll()
            group.cancelAll()
        }
    }
}
