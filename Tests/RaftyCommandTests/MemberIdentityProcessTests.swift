import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Rafty
import RaftyTestSupport
import Testing

/// Cluster ids and data-directory incarnations (`NodeIdentity`) between `rafty serve` processes.
@Suite("Cluster and member identity between rafty serve processes", .serialized, .timeLimit(.minutes(3)))
struct MemberIdentityProcessTests {
    func log(_ cluster: ProcessCluster, _ id: UInt64) -> String {
        (try? String(contentsOfFile: "\(cluster.directory.path)/node-\(id).log", encoding: .utf8)) ?? ""
    }

    func state(_ cluster: ProcessCluster, _ client: HTTPClient, _ id: UInt64) async -> String? {
        (try? await cluster.status(client, node: id))?["state"] as? String
    }

    @Test(
        "A node whose data directory was wiped comes back under its old id and does not vote until it is removed and added again; no acknowledged write is lost"
    )
    func wipedNode() async throws {
        let cluster = try ProcessCluster(size: 3)
        defer { cluster.killAll() }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try cluster.startAll()
            try await cluster.waitUntilReady(client, nodes: cluster.ids)
            var acknowledged: [String: String] = [:]
            for i in 0..<30 where try await cluster.put(client, node: cluster.ids.randomElement()!, key: "k\(i)", value: "a\(i)") == .ok {
                acknowledged["k\(i)"] = "a\(i)"
            }
            #expect(acknowledged.count >= 25)
            let leader = try await cluster.leader(client, among: cluster.ids)
            let wiped = cluster.ids.first { $0 != leader }!
            let other = cluster.ids.first { $0 != leader && $0 != wiped }!
            try await cluster.waitUntil("node \(other) applied every acknowledged write") {
                for (key, value) in acknowledged where try await cluster.get(client, node: other, key: key, consistency: "stale") != value { return false }
                return true
            }
            // Every node learned every member's data-directory incarnation (by messages, or by asking).
            try await cluster.waitUntil("every node knows its peers' incarnations") {
                cluster.ids.allSatisfy { id in
                    let known = (try? NodeIdentityStore(directory: cluster.dataDirectory(id)))?.identity.peerIncarnations.keys
                    return Set(known.map(Array.init) ?? []) == Set(cluster.ids.filter { $0 != id })
                }
            }

            // The follower loses its data directory and is started again as it was.
            cluster.kill(wiped)
            try FileManager.default.removeItem(atPath: cluster.dataDirectory(wiped))
            try cluster.start(wiped)
            try await cluster.waitUntil("the leader refuses node \(wiped)") {
                self.log(cluster, leader).contains("refused node \(wiped)")
            }
            // The leader crashes. With the wiped node's vote, node `other` would lead: it must not.
            cluster.kill(leader)
            let window = ContinuousClock.now + .seconds(5)  // ten election timeouts of 0.5 s
            while ContinuousClock.now < window {
                #expect(await self.state(cluster, client, other) != "leader")
                #expect(await self.state(cluster, client, wiped) != "leader")
                try await Task.sleep(for: .milliseconds(100))
            }

            // The operator's way back: restart the leader, remove the node, add it again fresh.
            try cluster.start(leader)
            _ = try await cluster.leader(client, among: [leader, other])
            let remove = try await cluster.rafty(["members", "remove", "\(wiped)", "--endpoint", cluster.url(other, "")])
            #expect(remove.exitCode == 0, "\(remove.standardError)")
            cluster.kill(wiped)
            try FileManager.default.removeItem(atPath: cluster.dataDirectory(wiped))
            try cluster.start(wiped, extraArguments: ["--join"])
            try await cluster.waitUntil("node \(wiped) serves HTTP") {
                let response = try await client.execute(HTTPClientRequest(url: cluster.url(wiped, "/health")), timeout: .seconds(1))
                _ = try await response.body.collect(upTo: 1 << 16)
                return response.status.code == 200
            }
            let add = try await cluster.rafty(["members", "add", "\(wiped)", cluster.grpcAddress(wiped), "--endpoint", cluster.url(other, "")])
            #expect(add.exitCode == 0, "\(add.standardError)")
            for i in 30..<40 where try await cluster.put(client, node: other, key: "k\(i)", value: "b\(i)") == .ok {
                acknowledged["k\(i)"] = "b\(i)"
            }
            try await cluster.waitUntil("node \(wiped) caught up") {
                for (key, value) in acknowledged where try await cluster.get(client, node: wiped, key: key, consistency: "stale") != value { return false }
                return true
            }

            // Now its vote counts: without the (possibly new) leader, the two others elect one.
            let current = try await cluster.leader(client, among: cluster.ids)
            cluster.kill(current)
            let survivors = cluster.ids.filter { $0 != current }
            let next = try await cluster.leader(client, among: survivors)
            for (key, value) in acknowledged.sorted(by: { $0.key < $1.key }) {
                let read = try await cluster.get(client, node: next, key: key, consistency: "linearizable")
                #expect(read == value, "\(key)")
                if read != value { break }
            }
        } catch {
            cluster.printLogs()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    @Test("A node from another cluster (another --cluster-token) is refused, and the cluster's term does not move")
    func otherCluster() async throws {
        let cluster = try ProcessCluster(size: 4)
        defer { cluster.killAll() }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let members: [UInt64] = [1, 2, 3]
            for id in members { try cluster.start(id, peers: members.filter { $0 != id }) }
            try await cluster.waitUntilReady(client, nodes: members)
            let leader = try await cluster.leader(client, among: members)
            let term = try await cluster.status(client, node: leader)["term"] as? Int
            // Node 4 believes it forms a cluster with 1, 2 and 3, under another token.
            try cluster.start(4, peers: members, extraArguments: ["--cluster-token", "elsewhere"])
            try await cluster.waitUntil("nodes 1, 2 and 3 refuse node 4") {
                members.allSatisfy { self.log(cluster, $0).contains("refused node 4") && self.log(cluster, $0).contains("this node belongs to cluster") }
            }
            for i in 0..<20 { #expect(try await cluster.put(client, node: leader, key: "k\(i)", value: "v\(i)") == .ok) }
            #expect(try await cluster.status(client, node: leader)["term"] as? Int == term)
            #expect(try await cluster.status(client, node: leader)["state"] as? String == "leader")
            #expect(try await cluster.get(client, node: 4, key: "k0", consistency: "stale") == nil)
        } catch {
            cluster.printLogs()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}
