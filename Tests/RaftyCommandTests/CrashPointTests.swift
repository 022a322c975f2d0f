import AsyncHTTPClient
import Foundation
import RaftyTestSupport
import Testing

/// `rafty serve` killed at exact storage system calls (strace's fault injection): the first to
/// fourth call of each, while a client writes. Every restart must come up with every
/// acknowledged write. Before term and vote were saved ahead of the entries, 4 of these 24 crash
/// points left a data directory that no later start accepted.
@Suite(
    "rafty serve killed at storage system calls", .serialized, .timeLimit(.minutes(5)),
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"), "needs /usr/bin/strace"))
struct CrashPointTests {
    static let syscalls = [
        "fdatasync", "fsync", "rename,renameat,renameat2", "pwrite64", "ftruncate", "unlink,unlinkat",
    ]

    @Test("Killed at the 1st–4th call of a storage system call while writing, a single node restarts with every acknowledged write", arguments: Self.syscalls)
    func crashPoints(syscall: String) async throws {
        let cluster = try ProcessCluster(size: 1)
        defer { cluster.killAll() }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let node: UInt64 = 1
        let arguments = ["--minimum-cluster-size", "1", "--snapshot-threshold", "20", "--trailing-logs", "3"]
        // Values number every write, so a later write (acknowledged or not) reads as a higher number.
        var acknowledged: [String: String] = [:]
        var killed = 0
        var written = 0
        do {
            // A first life, so that later starts restart from a directory with state in it.
            try cluster.start(node, peers: [], extraArguments: arguments)
            try await cluster.waitUntilReady(client, nodes: [node])
            for _ in 0..<10 {
                let (key, value) = ("k\(written % 30)", "w\(written)")
                written += 1
                if try await cluster.put(client, node: node, key: key, value: value) == .ok { acknowledged[key] = value }
            }
            cluster.kill(node)
            for when in 1...4 {
                let name = syscall.split(separator: ",")[0]
                let inject = ["/usr/bin/strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=\(syscall)", "-e", "inject=\(syscall):signal=KILL:when=\(when)"]
                try cluster.start(node, peers: [], extraArguments: arguments, wrapper: inject)
                // Write until the injected kill ends the process (or 100 writes go by).
                var died = false
                for _ in 0..<100 {
                    let key = "k\(written % 30)"
                    let value = "w\(written)"
                    written += 1
                    if try await cluster.put(client, node: node, key: key, value: value) == .ok { acknowledged[key] = value }
                    if !cluster.isRunning(node) {
                        died = true
                        break
                    }
                }
                if !died { died = try await cluster.waitForExit(node, timeout: .seconds(2)) }
                if died {
                    killed += 1
                    cluster.reap(node)
                } else {
                    // The call never came this often: stop the traced node and its tracer.
                    _ = try? Process.run(URL(fileURLWithPath: "/usr/bin/pkill"), arguments: ["-KILL", "-f", cluster.dataDirectory(node)]).waitUntilExit()
                    cluster.kill(node)
                }
                // The restart, untraced, must come up and hold every acknowledged write.
                try cluster.start(node, peers: [], extraArguments: arguments)
                try await cluster.waitUntilReady(client, nodes: [node])
                for (key, value) in acknowledged.sorted(by: { $0.key < $1.key }) {
                    let read = try await cluster.get(client, node: node, key: key, consistency: "linearizable")
                    // A write whose answer was lost with the process may have been applied after it.
                    let ok = read == value || (read.flatMap { Int($0.dropFirst()) } ?? -1) > (Int(value.dropFirst()) ?? -1)
                    #expect(ok, "\(name) #\(when): \(key) = \(read ?? "nil"), acknowledged \(value)")
                }
                cluster.kill(node)
                if !died { break }  // the workload never makes this call `when` times: neither more
            }
            print("crash points \(syscall): killed at \(killed) of 4, \(written) writes, \(acknowledged.count) keys acknowledged")
        } catch {
            cluster.printLogs()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}
