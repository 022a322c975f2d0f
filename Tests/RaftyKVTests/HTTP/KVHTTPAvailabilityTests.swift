import Foundation
import HTTPTypes
import Hummingbird
import RaftCore
import Rafty
import RaftyTestSupport
import Testing

@testable import RaftyKV

@Suite("KV HTTP API without a leader, across partitions and from snapshots", .timeLimit(.minutes(1)))
struct KVHTTPAvailabilityTests {
    @Test("A lone node of a three-node cluster answers 503 (not applied) and /ready 503 until its peers start")
    func noLeader() async throws {
        let cluster = KVTestCluster(size: 3)
        try await withThrowingDiscardingTaskGroup { group in
            try cluster.start(1, in: &group)
            try await eventually("the node runs") { cluster.node(1).status.state != .down }

            let ready = try await cluster.request(1, .get, "/ready")
            #expect(ready.status == .serviceUnavailable)
            #expect(try ready.errorCode() == "not_ready")
            let health = try await cluster.request(1, .get, "/health")
            #expect(health.status == .ok)
            #expect(try health.json()["status"] as? String == "ok")

            let put = try await cluster.request(1, .put, "/v1/kv/k", body: [1])
            #expect(put.status == .serviceUnavailable, "\(put.text)")
            #expect(try put.errorCode() == "no_leader")
            #expect((try put.json()["error"] as? [String: Any])?["leader"] == nil, "no leader is known")
            let delete = try await cluster.request(1, .delete, "/v1/kv/k")
            #expect(delete.status == .serviceUnavailable)
            let get = try await cluster.request(1, .get, "/v1/kv/k")
            #expect(get.status == .serviceUnavailable)
            let stale = try await cluster.request(1, .get, "/v1/kv/k?consistency=stale")
            #expect(stale.status == .notFound, "a stale read is served locally")
            let status = try await cluster.request(1, .get, "/v1/status").json()
            #expect(status["leaderID"] is NSNull && status["leaderAddress"] is NSNull && status["lastLeaderContact"] is NSNull)

            try cluster.start(2, in: &group)
            try cluster.start(3, in: &group)
            try await eventually("node 1 becomes ready once a leader is elected") {
                try await cluster.request(1, .get, "/ready").status == .ok
            }
            #expect(try await cluster.request(1, .get, "/ready").json()["status"] as? String == "ready")
            #expect(try await cluster.request(1, .put, "/v1/kv/k", body: [1]).status == .ok)
            #expect(cluster.store(1).value(forKey: Array("k".utf8)) == [1], "the refused writes never appeared")

            try await cluster.stopAll()
            group.cancelAll()
        }
    }

    @Test("Writes through a partitioned leader answer 504 (outcome unknown), never 503 or 4xx")
    func partitionedLeader() async throws {
        // Ticks of 100 ms: the isolated leader and its followers keep their view of leadership
        // for at least an election timeout (1 s), well past the 300 ms request deadline.
        let cluster = KVTestCluster(size: 3, requestTimeout: .milliseconds(300))
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) { $0.tickInterval = .milliseconds(100) } }
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            #expect(try await cluster.request(follower, .put, "/v1/kv/before", body: [1]).status == .ok)
            try await eventually("the follower knows the leader") { cluster.node(follower).status.leaderID == leader }

            cluster.setIsolated(leader, true)
            let onLeader = try await cluster.request(leader, .put, "/v1/kv/lost", body: [2])
            #expect(onLeader.status == .gatewayTimeout, "\(onLeader.text)")
            #expect(try onLeader.errorCode() == "timed_out")
            let message = (try onLeader.json()["error"] as? [String: Any])?["message"] as? String
            #expect((message ?? "").contains("unknown"))

            let forwarded = try await cluster.request(follower, .put, "/v1/kv/lost", body: [3])
            #expect(forwarded.status == .gatewayTimeout || forwarded.status == .serviceUnavailable, "\(forwarded.text)")
            if forwarded.status == .serviceUnavailable {
                // Only if the follower already stopped believing in the old leader: then nothing was sent.
                #expect(try forwarded.errorCode() == "no_leader")
            }

            cluster.setIsolated(leader, false)
            try await cluster.stopAll()
            group.cancelAll()
        }
    }

    @Test("A lagging follower catches up from a KV snapshot and serves the data stale")
    func snapshotCatchUp() async throws {
        let cluster = KVTestCluster(size: 3)
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 {
                try cluster.start(id, in: &group) {
                    $0.snapshotThreshold = 50
                    $0.trailingLogs = 10
                }
            }
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            let client = KVClient(node: cluster.node(leader))
            _ = try await client.put(Array("first".utf8), value: Array("1".utf8))
            cluster.setIsolated(follower, true)
            for i in 0..<200 {
                _ = try await client.put(Array("key-\(i)".utf8), value: Array("value-\(i)".utf8))
            }
            _ = try await client.delete(Array("first".utf8))
            cluster.setIsolated(follower, false)

            try await eventually("the follower has the last write") {
                try await cluster.request(follower, .get, "/v1/kv/key-199?consistency=stale").text == "value-199"
            }
            #expect(cluster.store(follower).restoreCount >= 1, "caught up from a snapshot, not the log")
            #expect(try await cluster.request(follower, .get, "/v1/kv/key-0?consistency=stale").text == "value-0")
            #expect(try await cluster.request(follower, .get, "/v1/kv/first?consistency=stale").status == .notFound)
            #expect(cluster.store(follower).count == 200)

            try await cluster.stopAll()
            group.cancelAll()
        }
    }
}
