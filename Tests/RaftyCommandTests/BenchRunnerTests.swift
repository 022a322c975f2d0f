import Synchronization
import Testing

@testable import RaftyCommand

@Suite("bench against a fake server", .timeLimit(.minutes(1)))
struct BenchRunnerTests {
    @Test("A one-second run with mixed reads and writes produces a report")
    func shortRun() async throws {
        let server = FakeKVServer()
        let lines = ProgressLines()
        let workload = BenchWorkload(
            endpoints: [], clients: 3, duration: .seconds(1), valueSize: 32, keys: 20, readRatio: 0.5,
            consistency: .stale
        )
        let report = try await server.run { url in
            var workload = workload
            workload.endpoints = [url, url]
            return try await RaftyHTTPClient.with(endpoints: workload.endpoints, timeout: .seconds(5), connectionsPerHost: 3) { client in
                await BenchRunner(workload: workload, client: client).run { line in
                    lines.append(line)
                }
            }
        }
        #expect(report.operations > 0)
        #expect(report.reads > 0)
        #expect(report.writes > 0)
        #expect(report.reads + report.writes == report.operations)
        #expect(report.errors == 0)
        #expect(report.latencyMilliseconds.max >= report.latencyMilliseconds.p50)
        #expect(report.clients == 3)
        let puts = server.received.filter { $0.method == "PUT" }
        #expect(puts.allSatisfy { $0.body.count == 32 })
        #expect(server.received.filter { $0.method == "GET" }.allSatisfy { $0.uri.hasSuffix("?consistency=stale") })
        #expect(lines.all.allSatisfy { $0.contains("ops/s") })
    }

    @Test("Errors are counted by kind")
    func errorsByKind() async throws {
        let server = FakeKVServer(mode: .fail(status: 503, code: "no_leader", message: "no leader", leader: nil))
        let report = try await server.run { url in
            let workload = BenchWorkload(
                endpoints: [url, deadEndpoint], clients: 2, duration: .milliseconds(300), valueSize: 1, keys: 1,
                readRatio: 0, consistency: nil
            )
            return try await RaftyHTTPClient.with(endpoints: workload.endpoints, timeout: .seconds(5), connectionsPerHost: 2) { client in
                await BenchRunner(workload: workload, client: client).run { _ in }
            }
        }
        #expect(report.operations == 0)
        #expect((report.errorsByKind["http 503"] ?? 0) > 0)
        #expect((report.errorsByKind["connection failure"] ?? 0) > 0)
        #expect(report.errors == report.errorsByKind.values.reduce(0, +))
    }
}

/// Progress lines collected from the bench's reporter task.
private final class ProgressLines: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { self.lines.withLock { $0 } }

    func append(_ line: String) { self.lines.withLock { $0.append(line) } }
}
