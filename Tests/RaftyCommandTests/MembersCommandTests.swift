import ArgumentParser
import Foundation
import Logging
import Rafty
import Testing

@testable import RaftyCommand

/// `rafty members ...` against fake servers: requests, output, failover and exit codes.
@Suite("rafty members", .timeLimit(.minutes(1)))
struct MembersCommandTests {
    private static let timeout = Duration.seconds(5)

    @Test("add, promote, demote, remove send the API's requests and print 'index N'; list shows the result")
    func lifecycle() async throws {
        let server = FakeKVServer()
        let (lines, table, json) = try await server.run { url in
            try await RaftyHTTPClient.with(endpoints: [url], timeout: Self.timeout) { client in
                var lines: [String] = []
                lines.append(try await MembersAddCommand.add(id: 2, address: "127.0.0.1:50052", voter: true, with: client))
                lines.append(try await MembersAddCommand.add(id: 3, address: "127.0.0.1:50053", voter: false, with: client))
                lines.append(try await MembersCommand.change(.promote, of: 3, with: client))
                lines.append(try await MembersCommand.change(.demote, of: 2, with: client))
                lines.append(try await MembersCommand.change(.remove, of: 2, with: client))
                let response = try await MembersListCommand.fetch(with: client)
                return (
                    lines, MembersListCommand.renderTable(try MembersListCommand.members(in: response)),
                    try MembersListCommand.renderJSON(response)
                )
            }
        }
        #expect(lines == ["index 1", "index 2", "index 3", "index 4", "index 5"])
        #expect(
            server.received.map { "\($0.method) \($0.uri)" } == [
                "POST /v1/members", "POST /v1/members", "POST /v1/members/3/promote", "POST /v1/members/2/demote",
                "DELETE /v1/members/2", "GET /v1/members",
            ])
        let addBody = try #require(
            try JSONSerialization.jsonObject(with: Data(server.received[0].body)) as? [String: Any])
        #expect(addBody["id"] as? Int == 2)
        #expect(addBody["address"] as? String == "127.0.0.1:50052")
        #expect(addBody["voter"] as? Bool == true)
        #expect(String(decoding: server.received[1].body, as: UTF8.self) == #"{"id":3,"address":"127.0.0.1:50053","voter":false}"#)
        #expect(server.members == [1: true, 3: true])
        #expect(
            table == """
                ID  ADDRESS          VOTER
                1   127.0.0.1:50051  yes
                3   127.0.0.1:50053  yes
                """)
        let listed = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(listed.map { $0["id"] as? Int } == [1, 3])
        #expect(listed.map { $0["voter"] as? Bool } == [true, true])
        #expect(json.contains("\"address\" : \"127.0.0.1:50053\""), "slashes and keys as printed: \(json)")
    }

    @Test("The table marks read-only members and unknown addresses")
    func table() {
        let members = [
            NodeStatus.Member(id: "1", address: "10.0.0.1:50051", voter: true),
            NodeStatus.Member(id: "12", address: nil, voter: false),
        ]
        #expect(
            MembersListCommand.renderTable(members) == """
                ID  ADDRESS         VOTER
                1   10.0.0.1:50051  yes
                12  -               no
                """)
    }

    @Test("A refused change is the server's error (exit 1, one line), not retried on another endpoint")
    func conflict() async throws {
        let first = FakeKVServer()
        let second = FakeKVServer(id: 2)
        let outcome = try await withFakeServers(first, second) { one, two in
            await RaftyCommand.execute(["members", "add", "1", "127.0.0.1:9", "--endpoint", "\(one),\(two)"])
        }
        #expect(outcome.exitCode == 1)
        #expect(outcome.standardError?.hasPrefix("rafty: error: ") == true)
        #expect(outcome.standardError?.contains("409 conflict: node 1 is already a member") == true, "\(outcome.standardError ?? "")")
        #expect(first.received.count == 1)
        #expect(second.received.isEmpty)
    }

    @Test("503 moves on to the next endpoint; the change is made once")
    func unavailableMovesOn() async throws {
        let refusing = FakeKVServer(mode: .fail(status: 503, code: "no_leader", message: "no leader; not applied", leader: nil))
        let serving = FakeKVServer(id: 2)
        let line = try await withFakeServers(refusing, serving) { first, second in
            try await RaftyHTTPClient.with(endpoints: [deadEndpoint, first, second], timeout: Self.timeout) { client in
                try await MembersCommand.change(.demote, of: 2, with: client)
            }
        }
        #expect(line == "index 1")
        #expect(refusing.received.count == 1)
        #expect(serving.received.map(\.uri) == ["/v1/members/2/demote"])
        #expect(serving.members == [2: false])
    }

    @Test("504 on a change: outcome unknown, not retried elsewhere; too_slow is reported as the server says")
    func unknownOutcome() async throws {
        let slow = FakeKVServer(mode: .fail(status: 504, code: "timed_out", message: "the outcome of add 4 is unknown", leader: nil))
        let other = FakeKVServer(id: 2)
        let error = try await withFakeServers(slow, other) { first, second in
            try await RaftyHTTPClient.with(endpoints: [first, second], timeout: Self.timeout) { client in
                await #expect(throws: RaftyClientError.self) {
                    try await MembersAddCommand.add(id: 4, address: "127.0.0.1:50054", voter: true, with: client)
                }
            }
        }
        guard case .outcomeUnknown(_, let reason) = error else {
            Issue.record("expected outcome unknown, got \(String(describing: error))")
            return
        }
        #expect(reason == "504 timed_out: the outcome of add 4 is unknown")
        #expect(slow.received.count == 1)
        #expect(other.received.isEmpty)

        let tooSlow = FakeKVServer(
            mode: .fail(
                status: 409, code: "too_slow", message: "node 4 was added as a read-only member and stays one", leader: nil))
        let outcome = try await tooSlow.run { url in
            await RaftyCommand.execute(["members", "add", "4", "127.0.0.1:50054", "--endpoint", url])
        }
        #expect(outcome.exitCode == 1)
        #expect(outcome.standardError?.contains("409 too_slow: node 4 was added as a read-only member") == true, "\(outcome.standardError ?? "")")
    }

    @Test("No answer within --timeout: the change's outcome is unknown and it is not retried")
    func noAnswer() async throws {
        let silent = FakeKVServer(mode: .hang)
        let other = FakeKVServer(id: 2)
        let outcome = try await withFakeServers(silent, other) { first, second in
            defer { silent.release() }
            return await RaftyCommand.execute(["members", "remove", "1", "--endpoint", first, "--endpoint", second, "--timeout", "1"])
        }
        #expect(outcome.exitCode == 1)
        #expect(outcome.standardError?.contains("outcome unknown") == true, "\(outcome.standardError ?? "")")
        #expect(other.received.isEmpty)
    }

    @Test("Exit 0 on success; list --json through the command")
    func exitCodes() async throws {
        let server = FakeKVServer()
        let (add, list) = try await server.run { url in
            (
                await RaftyCommand.execute(["members", "add", "2", "127.0.0.1:50052", "--read-only", "--endpoint", url]),
                await RaftyCommand.execute(["members", "list", "--json", "--endpoint", url])
            )
        }
        #expect(add == .success)
        #expect(list == .success)
        #expect(server.members == [1: true, 2: false])
    }

    @Test("Member changes default to a 30 s timeout; list to 5 s; --read-only")
    func parsing() throws {
        let add = try #require(try RaftyCommand.parseAsRoot(["members", "add", "4", "10.0.0.4:50051", "--read-only"]) as? MembersAddCommand)
        #expect(add.id == 4 && add.address == "10.0.0.4:50051" && add.readOnly)
        #expect(add.requestTimeout == .seconds(30))
        #expect(try add.client.endpoints == ["http://127.0.0.1:8080"])
        let remove = try #require(try RaftyCommand.parseAsRoot(["members", "remove", "4", "--timeout", "2", "--endpoint", "a:1,b:2"]) as? MembersRemoveCommand)
        #expect(remove.member.requestTimeout == .seconds(2))
        #expect(try remove.member.client.endpoints == ["http://a:1", "http://b:2"])
        #expect(try #require(try RaftyCommand.parseAsRoot(["members", "promote", "4"]) as? MembersPromoteCommand).member.requestTimeout == .seconds(30))
        #expect(try #require(try RaftyCommand.parseAsRoot(["members", "demote", "4"]) as? MembersDemoteCommand).member.id == 4)
        let list = try #require(try RaftyCommand.parseAsRoot(["members", "list"]) as? MembersListCommand)
        #expect(list.client.timeoutDuration() == .seconds(5) && !list.json)
        let bootstrap = try #require(try RaftyCommand.parseAsRoot(["bootstrap"]) as? BootstrapCommand)
        #expect(bootstrap.requestTimeout == .seconds(30))
        #expect(throws: (any Error).self) { try RaftyCommand.parseAsRoot(["members", "demote", "4", "--timeout", "-1"]) }
        #expect(MembersAddCommand.body(id: 7, address: "a\"b", voter: true) == Array(#"{"id":7,"address":"a\"b","voter":true}"#.utf8))
    }

    @Test(
        "Bad arguments are usage errors (exit 2)",
        arguments: [
            ["members", "add", "4"],
            ["members", "add", "0", "10.0.0.4"],
            ["members", "add", "x", "10.0.0.4"],
            ["members", "add", "4", " "],
            ["members", "remove"],
            ["members", "remove", "0"],
            ["members", "remove", "-1"],
            ["members", "promote", "4", "--timeout", "0"],
            ["members", "demote", "4", "--endpoint", "ftp://x:1"],
            ["members", "list", "--bogus"],
            ["serve", "--id", "4", "--join"],
            ["serve", "--id", "4", "--catch-up-timeout", "0"],
        ]
    )
    func usageErrors(arguments: [String]) async {
        let outcome = await RaftyCommand.execute(arguments)
        #expect(outcome.exitCode == 2, "\(outcome)")
        #expect(outcome.standardError?.contains("Usage:") == true || outcome.standardError?.contains("Error:") == true, "\(outcome)")
    }

    @Test("serve --join --leave-on-stop --catch-up-timeout reach the node configuration")
    func serveFlags() throws {
        let serve = try #require(
            try RaftyCommand.parseAsRoot([
                "serve", "--id", "4", "--join", "--peers", "127.0.0.1:50051", "--leave-on-stop", "--catch-up-timeout", "2.5",
            ]) as? ServeCommand)
        let configuration = try serve.nodeConfiguration(logger: .init(label: "test"))
        #expect(configuration.startMode == .join)
        #expect(configuration.leaveOnStop)
        #expect(configuration.memberCatchUpTimeout == .milliseconds(2500))
        let plain = try #require(try RaftyCommand.parseAsRoot(["serve", "--id", "1"]) as? ServeCommand)
        let defaults = try plain.nodeConfiguration(logger: .init(label: "test"))
        #expect(defaults.startMode == .form && !defaults.leaveOnStop && defaults.memberCatchUpTimeout == .seconds(10))
    }
}
