import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RaftyTestSupport
import Testing

/// A cluster grown with the `rafty members` CLI from one `rafty serve` process to three, then
/// the original node killed with SIGKILL.
@Suite("rafty members against rafty serve processes", .serialized, .timeLimit(.minutes(2)))
struct MembershipProcessTests {
    @Test("Grow a single-server cluster to three with `rafty members add`, kill -9 the original node: the two joiners serve every acknowledged write")
    func growThenKillOriginal() async throws {
        let cluster = try ProcessCluster(size: 3)
        defer { cluster.killAll() }  // also when the test fails
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            // Node 1 alone: a single-server cluster that leads at once.
            try cluster.start(1, peers: [], extraArguments: ["--minimum-cluster-size", "1"])
            try await cluster.waitUntilReady(client, nodes: [1])
            var acknowledged: [String: String] = [:]
            for i in 0..<20 {
                let key = "before \(i)"
                #expect(try await cluster.put(client, node: 1, key: key, value: "v\(i)") == .ok)
                acknowledged[key] = "v\(i)"
            }

            // Nodes 2 and 3 start outside the cluster, knowing only node 1, and are added by the CLI.
            for id: UInt64 in [2, 3] {
                try cluster.start(id, peers: [1], extraArguments: ["--join"])
            }
            for id: UInt64 in [2, 3] {
                try await cluster.waitUntil("node \(id) serves HTTP") {
                    let response = try await client.execute(HTTPClientRequest(url: cluster.url(id, "/health")), timeout: .seconds(1))
                    _ = try await response.body.collect(upTo: 1 << 16)
                    return response.status.code == 200
                }
                let add = try await cluster.rafty(["members", "add", "\(id)", cluster.grpcAddress(id), "--endpoint", cluster.url(1, "")])
                #expect(add.exitCode == 0, "members add \(id): \(add.standardError)")
                #expect(add.standardOutput.hasPrefix("index "), "\(add.standardOutput)")
            }
            let list = try await cluster.rafty(["members", "list", "--json", "--endpoint", "\(cluster.url(2, "")),\(cluster.url(1, ""))"])
            #expect(list.exitCode == 0, "\(list.standardError)")
            let members = try #require(try JSONSerialization.jsonObject(with: Data(list.standardOutput.utf8)) as? [[String: Any]])
            #expect(members.map { $0["id"] as? Int } == [1, 2, 3])
            #expect(members.allSatisfy { $0["voter"] as? Bool == true }, "\(list.standardOutput)")
            #expect(members.map { $0["address"] as? String } == [1, 2, 3].map { cluster.grpcAddress($0) })
            let table = try await cluster.rafty(["members", "list", "--endpoint", cluster.url(3, "")])
            #expect(table.exitCode == 0)
            #expect(table.standardOutput.split(separator: "\n").filter { $0.hasSuffix("yes") }.count == 3, "\(table.standardOutput)")

            // kill -9 the original node; the two joiners are a majority of three voters.
            cluster.kill(1)
            let survivors: [UInt64] = [2, 3]
            var unknown = 0
            for i in 0..<20 {
                let key = "after \(i)"
                try await cluster.waitUntil("write \(key) is acknowledged") {
                    switch try await cluster.put(client, node: survivors.randomElement()!, key: key, value: "w\(i)") {
                    case .ok:
                        acknowledged[key] = "w\(i)"
                        return true
                    case .unknown:
                        unknown += 1
                        return false
                    case .notApplied:
                        return false
                    }
                }
            }
            for node in survivors {
                for (key, value) in acknowledged.sorted(by: { $0.key < $1.key }) {
                    let read = try await cluster.get(client, node: node, key: key, consistency: "linearizable")
                    #expect(read == value, "node \(node), key \(key)")
                    if read != value { break }
                }
            }
            print("membership multi-process: \(acknowledged.count) acknowledged, \(unknown) unknown outcomes")
        } catch {
            cluster.printLogs()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}

/// What a `rafty` client invocation printed, and how it ended.
struct RaftyRun: Sendable {
    var exitCode: Int32
    var standardOutput: String
    var standardError: String
}

extension ProcessCluster {
    /// Runs the `rafty` binary with `arguments` to completion (killed after `timeout`). Meant for
    /// client commands, whose output is small.
    func rafty(_ arguments: [String], timeout: Duration = .seconds(60)) async throws -> RaftyRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: self.binary)
        process.arguments = arguments
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        let (exits, exited) = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = { process in
            exited.yield(process.terminationStatus)
            exited.finish()
        }
        try process.run()
        let pid = process.processIdentifier
        let killer = Task {
            try await Task.sleep(for: timeout)
            Foundation.kill(pid, SIGKILL)
        }
        var iterator = exits.makeAsyncIterator()
        let code = await iterator.next() ?? -1
        killer.cancel()
        // Read once the process has exited: the CLI prints a few lines, far below a pipe's buffer.
        return RaftyRun(
            exitCode: code, standardOutput: Self.readAll(output.fileHandleForReading),
            standardError: Self.readAll(error.fileHandleForReading))
    }

    private static func readAll(_ handle: FileHandle) -> String {
        String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    }
}
