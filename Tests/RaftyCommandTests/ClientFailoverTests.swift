import Testing

@testable import RaftyCommand

/// The client layer against fake servers: failover, write safety and error messages.
@Suite("HTTP client failover and error semantics", .timeLimit(.minutes(1)))
struct ClientFailoverTests {
    private static let timeout = Duration.seconds(5)

    @Test("A dead first endpoint: the second one serves reads and writes")
    func deadFirstEndpoint() async throws {
        let server = FakeKVServer()
        try await server.run { url in
            try await RaftyHTTPClient.with(endpoints: [deadEndpoint, url], timeout: Self.timeout) { client in
                let line = try await KVPutCommand.put(key: "a/b c", value: Array("v1".utf8), query: [], with: client)
                #expect(line == "index 1")
                let value = try await KVGetCommand.get(key: "a/b c", consistency: .stale, with: client)
                #expect(value == Array("v1".utf8))
            }
        }
        #expect(server.received.map(\.uri) == ["/v1/kv/a%2Fb%20c", "/v1/kv/a%2Fb%20c?consistency=stale"])
        #expect(server.received.first?.body == Array("v1".utf8))
    }

    @Test("503 moves on to the next endpoint, also for writes")
    func unavailableMovesOn() async throws {
        let refusing = FakeKVServer(mode: .fail(status: 503, code: "no_leader", message: "no leader; not applied", leader: nil))
        let serving = FakeKVServer(id: 2)
        try await withFakeServers(refusing, serving) { first, second in
            try await RaftyHTTPClient.with(endpoints: [first, second], timeout: Self.timeout) { client in
                let line = try await KVDeleteCommand.delete(key: "k", with: client)
                #expect(line == "index 1")
            }
        }
        #expect(refusing.received.count == 1)
        #expect(serving.received.map(\.method) == ["DELETE"])
    }

    @Test("429 (overloaded, not applied) is retried at the same endpoint after its Retry-After, writes too")
    func overloadedRetriesSameEndpoint() async throws {
        let busy = FakeKVServer(mode: .overloaded(requests: 2))
        let other = FakeKVServer(id: 2)
        try await withFakeServers(busy, other) { first, second in
            try await RaftyHTTPClient.with(endpoints: [first, second], timeout: Self.timeout) { client in
                let line = try await KVDeleteCommand.delete(key: "k", with: client)
                #expect(line == "index 1")
            }
        }
        #expect(busy.received.map(\.method) == ["DELETE", "DELETE", "DELETE"])
        #expect(other.received.isEmpty)
    }

    @Test("A node that stays overloaded: the client moves on after its retries")
    func overloadedMovesOnAfterRetries() async throws {
        let busy = FakeKVServer(mode: .overloaded(requests: 100))
        let other = FakeKVServer(id: 2)
        try await withFakeServers(busy, other) { first, second in
            try await RaftyHTTPClient.with(endpoints: [first, second], timeout: Self.timeout) { client in
                let line = try await KVDeleteCommand.delete(key: "k", with: client)
                #expect(line == "index 1")
            }
        }
        #expect(busy.received.count == 1 + RaftyHTTPClient.maximumOverloadRetries)
        #expect(other.received.map(\.method) == ["DELETE"])
    }

    @Test("504 on a write: outcome unknown, not retried elsewhere")
    func timeoutOnWriteIsUnknown() async throws {
        let slow = FakeKVServer(mode: .fail(status: 504, code: "timed_out", message: "outcome unknown", leader: "2"))
        let other = FakeKVServer(id: 2)
        let error = try await withFakeServers(slow, other) { first, second in
            try await RaftyHTTPClient.with(endpoints: [first, second], timeout: Self.timeout) { client in
                await #expect(throws: RaftyClientError.self) {
                    try await KVPutCommand.put(key: "k", value: [1], query: [], with: client)
                }
            }
        }
        guard case .outcomeUnknown(_, let reason) = error else {
            Issue.record("expected outcome unknown, got \(String(describing: error))")
            return
        }
        #expect(reason == "504 timed_out: outcome unknown (leader: 2)")
        #expect(error?.description.contains("outcome unknown") == true)
        #expect(slow.received.count == 1)
        #expect(other.received.isEmpty)
    }

    @Test("No answer in time: a write is 'outcome unknown' and not retried; a read moves on")
    func noAnswer() async throws {
        let silent = FakeKVServer(mode: .hang)
        let other = FakeKVServer(id: 2)
        let (writeError, value) = try await withFakeServers(silent, other) { first, second in
            defer { silent.release() }
            return try await RaftyHTTPClient.with(endpoints: [first, second], timeout: .seconds(1)) { client in
                let writeError = await #expect(throws: RaftyClientError.self) {
                    try await KVPutCommand.put(key: "k", value: [1], query: [], with: client)
                }
                #expect(other.received.isEmpty)
                _ = try await KVPutCommand.put(
                    key: "k", value: Array("v".utf8), query: [],
                    with: RaftyHTTPClient(
                        http: client.http, endpoints: [second], timeout: client.timeout
                    ))
                let value = try await KVGetCommand.get(key: "k", consistency: nil, with: client)
                return (writeError, value)
            }
        }
        guard case .outcomeUnknown(_, let reason) = writeError else {
            Issue.record("expected outcome unknown, got \(String(describing: writeError))")
            return
        }
        #expect(reason == "timed out waiting for the answer")
        #expect(value == Array("v".utf8))
        #expect(silent.received.map(\.method) == ["PUT", "GET"])
    }

    @Test("504 on a read is an error from that endpoint, not 'outcome unknown'")
    func timeoutOnRead() async throws {
        let slow = FakeKVServer(mode: .fail(status: 504, code: "timed_out", message: "read timed out", leader: nil))
        let error = try await slow.run { url in
            try await RaftyHTTPClient.with(endpoints: [url], timeout: Self.timeout) { client in
                await #expect(throws: RaftyClientError.self) {
                    try await KVGetCommand.get(key: "k", consistency: nil, with: client)
                }
            }
        }
        #expect(error?.description.hasSuffix(": 504 timed_out: read timed out") == true)
    }

    @Test("The API's error JSON becomes the message (CAS conflict)")
    func errorJSON() async throws {
        let server = FakeKVServer()
        let error = try await server.run { url in
            try await RaftyHTTPClient.with(endpoints: [url], timeout: Self.timeout) { client in
                let first = try await KVPutCommand.put(key: "k", value: Array("old".utf8), query: [], with: client)
                #expect(first == "index 1")
                let second = try await KVPutCommand.put(key: "k", value: Array("new".utf8), query: [("prev", "old")], with: client)
                #expect(second == "index 2")
                return await #expect(throws: RaftyClientError.self) {
                    try await KVPutCommand.put(key: "k", value: Array("x".utf8), query: [("prev", "old")], with: client)
                }
            }
        }
        #expect(error?.description.hasSuffix(": 409 cas_failed: current value differs") == true)
        #expect(server.received.last?.uri == "/v1/kv/k?prev=old")
    }

    @Test("404 on get is 'key not found'")
    func keyNotFound() async throws {
        let server = FakeKVServer()
        let error = try await server.run { url in
            try await RaftyHTTPClient.with(endpoints: [url], timeout: Self.timeout) { client in
                await #expect(throws: RaftyClientError.self) {
                    try await KVGetCommand.get(key: "missing", consistency: nil, with: client)
                }
            }
        }
        #expect(error == .keyNotFound("missing"))
        #expect(CommandOutcome(error: error!, for: RaftyCommand.self).standardError == "rafty: error: key not found: missing")
    }

    @Test("Every endpoint unavailable: one error naming each")
    func allUnavailable() async throws {
        let refusing = FakeKVServer(mode: .fail(status: 503, code: "no_leader", message: "no leader", leader: nil))
        let (error, url) = try await refusing.run { url in
            let error = try await RaftyHTTPClient.with(endpoints: [deadEndpoint, url], timeout: Self.timeout) { client in
                await #expect(throws: RaftyClientError.self) {
                    try await KVPutCommand.put(key: "k", value: [1], query: [], with: client)
                }
            }
            return (error, url)
        }
        #expect(
            error?.description
                == "no endpoint could serve the request (\(deadEndpoint): connection refused; \(url): 503 no_leader: no leader)"
        )
    }

    @Test("status asks every endpoint; failures become 'unreachable' rows")
    func status() async throws {
        let first = FakeKVServer(id: 1)
        let second = FakeKVServer(id: 2)
        let rows = try await withFakeServers(first, second) { a, b in
            try await RaftyHTTPClient.with(endpoints: [a, deadEndpoint, b], timeout: Self.timeout) { client in
                await StatusCommand.fetch(with: client)
            }
        }
        #expect(rows.count == 3)
        #expect((try? rows[0].result.get())?.id == "1")
        #expect((try? rows[1].result.get()) == nil)
        #expect((try? rows[2].result.get())?.id == "2")
        #expect(StatusCommand.renderTable(rows).contains("unreachable"))
    }

    @Test("transfer-leadership posts the target id")
    func transfer() async throws {
        let server = FakeKVServer(id: 3)
        let answer = try await server.run { url in
            try await RaftyHTTPClient.with(endpoints: [url], timeout: Self.timeout) { client in
                try await TransferLeadershipCommand.transfer(to: "3", with: client)
            }
        }
        #expect(answer == #"{"leader":3}"#)
        #expect(server.received.map(\.body) == [Array(#"{"to":3}"#.utf8)])
    }
}
