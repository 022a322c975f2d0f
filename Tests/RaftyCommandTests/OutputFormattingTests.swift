import Foundation
import Histogram
import Testing

@testable import RaftyCommand

@Suite("Output formatting")
struct OutputFormattingTests {
    @Test("Tables align columns and trim trailing spaces")
    func table() {
        let text = TextTable.render(header: ["A", "LONG HEADER", "C"], rows: [["xyz", "1", ""], ["p"]])
        #expect(
            text == """
                A    LONG HEADER  C
                xyz  1
                p
                """)
    }

    @Test("Two-decimal formatting")
    func decimals() {
        #expect(Decimal2.format(1.5) == "1.50")
        #expect(Decimal2.format(0.004) == "0.00")
        #expect(Decimal2.format(12.345678) == "12.35")
        #expect(Decimal2.format(-0.5) == "-0.50")
        #expect(Decimal2.format(1000) == "1000.00")
    }

    @Test("Status table: one row per endpoint, unreachable ones marked")
    func statusTable() {
        let rows = [
            StatusCommand.Row(
                endpoint: "http://a:1",
                result: .success(
                    NodeStatus(
                        id: "1", address: "a:50051", state: "leader", term: 4, commitIndex: 10, lastApplied: 9,
                        leaderID: "1", leaderAddress: "a:50051", lastLeaderContact: 0
                    ))
            ),
            StatusCommand.Row(endpoint: "http://b:2", result: .failure(.init(reason: "connection refused"))),
            StatusCommand.Row(
                endpoint: "http://c:3",
                result: .success(NodeStatus(id: "3", state: "follower", term: 4, lastLeaderContact: 1530))
            ),
        ]
        #expect(
            StatusCommand.renderTable(rows) == """
                ENDPOINT    ID  ADDRESS  STATE        TERM  COMMIT  APPLIED  LEADER       LAST CONTACT
                http://a:1  1   a:50051  leader       4     10      9        1 (a:50051)  0ms
                http://b:2  -   -        unreachable  -     -       -        -            connection refused
                http://c:3  3   -        follower     4     -       -        -            1.53s
                """)
        let json = StatusCommand.renderJSON(rows)
        let decoded = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [Any]
        #expect(decoded?.count == 3)
        #expect(decoded?[1] is NSNull)
    }

    @Test("Status table: the leader's view of the members (reachable, last contact, match index, lag) follows when an endpoint is the leader")
    func statusMembersTable() throws {
        let body = """
            {"id": 1, "address": "a:7001", "state": "leader", "term": 3, "commitIndex": 20, "lastApplied": 20,
             "leaderID": 1, "leaderAddress": "a:7001", "lastLeaderContact": 0,
             "members": [{"id": 1, "address": "a:7001", "voter": true, "reachable": true, "lastContact": null, "matchIndex": null, "lag": null},
                         {"id": 2, "address": "b:7002", "voter": true, "reachable": true, "lastContact": 12, "matchIndex": 20, "lag": 0},
                         {"id": 3, "address": "c:7003", "voter": false, "reachable": false, "lastContact": 4200, "matchIndex": 7, "lag": 13}]}
            """
        let status = try JSONDecoder().decode(NodeStatus.self, from: Data(body.utf8))
        let table = StatusCommand.renderTable([StatusCommand.Row(endpoint: "http://a:1", result: .success(status))])
        #expect(
            table.hasSuffix(
                """
                members, as leader 1 sees them:
                MEMBER  ADDRESS  VOTER  REACHABLE  LAST CONTACT  MATCH  LAG
                1       a:7001   yes    yes        (leader)      -      -
                2       b:7002   yes    yes        12ms          20     0
                3       c:7003   no     no (down)  4.20s         7      13
                """), "\(table)")
    }

    @Test("Status JSON is decoded leniently (numeric ids, nulls, missing fields)")
    func lenientStatus() throws {
        let json = """
            {"id":2,"address":"h:1","state":"follower","term":7,"commitIndex":5,"lastApplied":5,
             "leaderID":null,"leaderAddress":null,"lastLeaderContact":null,
             "members":[{"id":1,"address":"h:0","voter":true},{"id":"x"}]}
            """
        let status = try JSONDecoder().decode(NodeStatus.self, from: Data(json.utf8))
        #expect(status.id == "2")
        #expect(status.term == 7)
        #expect(status.leaderID == nil)
        #expect(status.members?.count == 2)
        #expect(status.members?[0] == .init(id: "1", address: "h:0", voter: true))
        #expect(try JSONDecoder().decode(NodeStatus.self, from: Data("{}".utf8)) == NodeStatus())
    }

    @Test("Error bodies become one-line messages")
    func errorBody() {
        let response = APIResponse(
            endpoint: "http://a:1",
            status: 409,
            body: Array(#"{"error":{"code":"cas_failed","message":"current value differs","leader":"2"}}"#.utf8)
        )
        #expect(response.serverError.description == "http://a:1: 409 cas_failed: current value differs (leader: 2)")
        let plain = APIResponse(endpoint: "http://a:1", status: 500, body: Array("boom\n".utf8))
        #expect(plain.serverError.description == "http://a:1: 500: boom")
        #expect(ServerErrorBody.parse(Array(#"{"error":{"leader":3}}"#.utf8))?.leader == "3")
    }

    @Test("Percentiles from a known histogram")
    func percentiles() {
        var result = BenchClientResult()
        for microseconds in 1...1000 {
            result.record(.microseconds(microseconds), isRead: microseconds % 2 == 0)
        }
        let latency = BenchReport.latency(of: result.latencies)
        #expect(latency.p50 == 0.5)
        #expect(latency.p90 == 0.9)
        #expect(latency.p99 == 0.99)
        #expect(latency.p999 == 0.999)
        #expect(latency.max == 1.0)
        #expect(BenchReport.latency(of: BenchClientResult().latencies) == .init(p50: 0, p90: 0, p99: 0, p999: 0, max: 0))
    }

    @Test("Merged client results add up")
    func merge() {
        var first = BenchClientResult()
        first.record(.milliseconds(1), isRead: true)
        first.recordError("http 503")
        var second = BenchClientResult()
        second.record(.milliseconds(3), isRead: false)
        second.recordError("http 503")
        second.recordError("timeout")
        first.merge(second)
        #expect(first.reads == 1)
        #expect(first.writes == 1)
        #expect(first.latencies.totalCount == 2)
        #expect(first.errors == ["http 503": 2, "timeout": 1])
    }

    @Test("Bench report: JSON shape and table")
    func benchReport() throws {
        var result = BenchClientResult()
        for microseconds in 1...1000 {
            result.record(.microseconds(microseconds), isRead: false)
        }
        result.recordError("http 503")
        let workload = BenchWorkload(
            endpoints: ["http://a:1"], clients: 4, duration: .seconds(2), valueSize: 16, keys: 10,
            readRatio: 0.5, consistency: .lease
        )
        let report = BenchReport(result: result, elapsed: .seconds(2), workload: workload)
        #expect(report.operations == 1000)
        #expect(report.throughput == 500)
        #expect(report.errors == 1)

        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any])
        #expect(
            Set(object.keys) == [
                "operations", "reads", "writes", "errors", "errorsByKind", "durationSeconds", "throughput",
                "latencyMilliseconds", "clients", "valueSize", "keys", "readRatio", "consistency", "endpoints",
            ])
        let latency = try #require(object["latencyMilliseconds"] as? [String: Double])
        #expect(latency == ["p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999, "max": 1.0])
        #expect(object["errorsByKind"] as? [String: Int] == ["http 503": 1])
        #expect(object["consistency"] as? String == "lease")
        #expect(!report.json().contains("\n"))
        #expect(try JSONDecoder().decode(BenchReport.self, from: Data(report.json().utf8)) == report)

        let table = report.table()
        #expect(table.contains("throughput  500.00 ops/s"))
        #expect(table.contains("p99.9       1.00 ms"))
        #expect(table.contains("  http 503  1"))
    }

    @Test("Progress line")
    func progressLine() {
        #expect(
            BenchReport.progressLine(elapsed: .seconds(3), operations: 1234, rate: 410.6, errors: 2)
                == "[3.00s] ops 1234  ops/s 411  errors 2"
        )
    }

    @Test("Transfer body: numeric ids as numbers, others as strings")
    func transferBody() {
        #expect(String(decoding: TransferLeadershipCommand.body(to: nil), as: UTF8.self) == "{}")
        #expect(String(decoding: TransferLeadershipCommand.body(to: "2"), as: UTF8.self) == #"{"to":2}"#)
        #expect(String(decoding: TransferLeadershipCommand.body(to: "n\"1"), as: UTF8.self) == #"{"to":"n\"1"}"#)
    }
}
