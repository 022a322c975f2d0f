import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RaftyTestSupport
import Testing

/// A cluster that lost its quorum for good, brought back with `rafty recover --force-new-cluster`.
@Suite("rafty recover against rafty serve processes", .serialized, .timeLimit(.minutes(2)))
struct DisasterRecoveryProcessTests {
    @Test("Three nodes lose two for good: rafty recover makes the survivor a one-member cluster with every write it had, which then grows again")
    func forceNewCluster() async throws {
        let cluster = try ProcessCluster(size: 4)
        defer { cluster.killAll() }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let original: [UInt64] = [1, 2, 3]
            for id in original { try cluster.start(id, peers: original.filter { $0 != id }) }
            try await cluster.waitUntilReady(client, nodes: original)
            var acknowledged: [String: String] = [:]
            for i in 0..<50 {
                let key = "key \(i)"
                if try await cluster.put(client, node: original.randomElement()!, key: key, value: "v\(i)") == .ok { acknowledged[key] = "v\(i)" }
            }
            #expect(acknowledged.count >= 45)
            // The survivor holds every acknowledged write before the others are lost.
            try await cluster.waitUntil("node 2 applied every acknowledged write") {
                for (key, value) in acknowledged where try await cluster.get(client, node: 2, key: key, consistency: "stale") != value { return false }
                return true
            }
            for id in original { cluster.kill(id) }

            let unconfirmed = try await cluster.rafty(["recover", "--data-dir", cluster.dataDirectory(2)])
            #expect(unconfirmed.exitCode == 2, "recover without --force-new-cluster is a usage error")
            let recover = try await cluster.rafty(["recover", "--data-dir", cluster.dataDirectory(2), "--force-new-cluster"])
            #expect(recover.exitCode == 0, "\(recover.standardError)")
            #expect(recover.standardOutput.contains("node 2") && recover.standardOutput.contains("dropped members: 1, 3"), "\(recover.standardOutput)")

            try cluster.start(2, peers: [1, 3])
            try await cluster.waitUntilReady(client, nodes: [2])
            for (key, value) in acknowledged.sorted(by: { $0.key < $1.key }) {
                let read = try await cluster.get(client, node: 2, key: key, consistency: "linearizable")
                #expect(read == value, "\(key)")
                if read != value { break }
            }
            #expect(try await cluster.put(client, node: 2, key: "after", value: "recovered") == .ok)

            // The new cluster grows again from a fresh node.
            try cluster.start(4, peers: [2], extraArguments: ["--join"])
            try await cluster.waitUntil("node 4 serves HTTP") {
                let response = try await client.execute(HTTPClientRequest(url: cluster.url(4, "/health")), timeout: .seconds(1))
                _ = try await response.body.collect(upTo: 1 << 16)
                return response.status.code == 200
            }
            let add = try await cluster.rafty(["members", "add", "4", cluster.grpcAddress(4), "--endpoint", cluster.url(2, "")])
            #expect(add.exitCode == 0, "\(add.standardError)")
            try await cluster.waitUntil("node 4 caught up") {
                try await cluster.get(client, node: 4, key: "after", consistency: "stale") == "recovered"
            }
        } catch {
            cluster.printLogs()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    @Test(
        "rafty snapshot save, then restore into a fresh directory: a new one-member cluster serves exactly the saved state; damaged files and used directories are refused"
    )
    func saveAndRestore() async throws {
        let cluster = try ProcessCluster(size: 4)
        defer { cluster.killAll() }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let original: [UInt64] = [1, 2, 3]
            for id in original { try cluster.start(id, peers: original.filter { $0 != id }) }
            try await cluster.waitUntilReady(client, nodes: original)
            var expected: [String: String] = [:]
            for i in 0..<60 {
                let key = "key \(i % 40)"  // some keys overwritten
                if try await cluster.put(client, node: original.randomElement()!, key: key, value: "v\(i)") == .ok { expected[key] = "v\(i)" }
            }
            #expect(expected.count >= 35)
            let file = "\(cluster.directory.path)/backup.snap"
            // Through a follower's endpoint as well as any: the snapshot follows a linearizable read.
            let save = try await cluster.rafty(["snapshot", "save", file, "--endpoint", cluster.url(2, ""), "--endpoint", cluster.url(1, "")])
            #expect(save.exitCode == 0, "\(save.standardError)")
            #expect(save.standardOutput.contains("saved \(expected.count) keys"), "\(save.standardOutput)")
            for id in original { cluster.kill(id) }

            // A damaged copy is refused before anything is written.
            var damaged = try Data(contentsOf: URL(fileURLWithPath: file))
            damaged[damaged.count / 2] ^= 0x20
            try damaged.write(to: URL(fileURLWithPath: file + ".damaged"))
            let refused = try await cluster.rafty([
                "snapshot", "restore", file + ".damaged", "--data-dir", cluster.dataDirectory(4), "--id", "4", "--address", cluster.grpcAddress(4),
            ])
            #expect(refused.exitCode != 0 && refused.standardError.contains("not a usable snapshot"), "\(refused.standardError)")

            let restore = try await cluster.rafty([
                "snapshot", "restore", file, "--data-dir", cluster.dataDirectory(4), "--id", "4", "--address", cluster.grpcAddress(4),
            ])
            #expect(restore.exitCode == 0, "\(restore.standardError)")
            let again = try await cluster.rafty([
                "snapshot", "restore", file, "--data-dir", cluster.dataDirectory(4), "--id", "4", "--address", cluster.grpcAddress(4),
            ])
            #expect(again.exitCode != 0 && again.standardError.contains("already holds a node's state"), "\(again.standardError)")

            try cluster.start(4, peers: [])
            try await cluster.waitUntilReady(client, nodes: [4])
            for (key, value) in expected.sorted(by: { $0.key < $1.key }) {
                let read = try await cluster.get(client, node: 4, key: key, consistency: "linearizable")
                #expect(read == value, "\(key)")
                if read != value { break }
            }
            #expect(try await cluster.get(client, node: 4, key: "key 59", consistency: "linearizable") == nil)
            #expect(try await cluster.put(client, node: 4, key: "after", value: "restored") == .ok)
        } catch {
            cluster.printLogs()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}
