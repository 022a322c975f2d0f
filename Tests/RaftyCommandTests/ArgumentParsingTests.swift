import ArgumentParser
import Testing

@testable import RaftyCommand

@Suite("Argument parsing and exit codes")
struct ArgumentParsingTests {
    @Test("Client options default to one local endpoint and a 5 s timeout")
    func clientDefaults() throws {
        let command = try #require(try RaftyCommand.parseAsRoot(["kv", "get", "k"]) as? KVGetCommand)
        #expect(try command.client.endpoints == ["http://127.0.0.1:8080"])
        #expect(command.client.timeout == nil && command.client.timeoutDuration() == .seconds(5))
        #expect(command.consistency == nil)
    }

    @Test("--endpoint is repeatable and accepts comma-separated lists")
    func endpointLists() throws {
        let command = try #require(
            try RaftyCommand.parseAsRoot([
                "status", "--endpoint", "http://a:1,b:2/", "--endpoint", " https://c:3 ",
            ]) as? StatusCommand
        )
        #expect(try command.client.endpoints == ["http://a:1", "http://b:2", "https://c:3"])
    }

    @Test("Bench defaults")
    func benchDefaults() throws {
        let command = try #require(try RaftyCommand.parseAsRoot(["bench"]) as? BenchCommand)
        let workload = try command.workload()
        #expect(workload.clients == 1)
        #expect(workload.duration == .seconds(10))
        #expect(workload.valueSize == 128)
        #expect(workload.keys == 1000)
        #expect(workload.readRatio == 0)
        #expect(workload.consistency == nil)
        #expect(workload.endpoints == ["http://127.0.0.1:8080"])
        #expect(command.json == false)
    }

    @Test("kv cas takes --prev or --create and maps them to the query")
    func casQuery() throws {
        let prev = try #require(try RaftyCommand.parseAsRoot(["kv", "cas", "k", "--prev", "old", "new"]) as? KVCASCommand)
        #expect(prev.conditionQuery.map { "\($0.0)=\($0.1)" } == ["prev=old"])
        #expect(prev.value.value == "new")
        let create = try #require(try RaftyCommand.parseAsRoot(["kv", "cas", "k", "--create", "new"]) as? KVCASCommand)
        #expect(create.conditionQuery.map { "\($0.0)=\($0.1)" } == ["prevExist=false"])
    }

    @Test(
        "Bad flags and arguments are usage errors (exit 2, usage on stderr)",
        arguments: [
            ["kv", "put", "k"],
            ["kv", "put", "k", "v", "--value-file", "/tmp/x"],
            ["kv", "get"],
            ["kv", "get", "k", "--consistency", "strong"],
            ["kv", "cas", "k", "new"],
            ["kv", "cas", "k", "--prev", "a", "--create", "new"],
            ["kv", "frobnicate"],
            ["status", "--timeout", "0"],
            ["status", "--endpoint", "ftp://x:1"],
            ["status", "--bogus"],
            ["bench", "--clients", "0"],
            ["bench", "--duration", "0"],
            ["bench", "--read-ratio", "1.5"],
            ["bench", "--value-size", "-1"],
            ["bench", "--clients", "many"],
            ["nonsense"],
        ]
    )
    func usageErrors(arguments: [String]) async {
        let outcome = await RaftyCommand.execute(arguments)
        #expect(outcome.exitCode == 2)
        #expect(outcome.standardOutput == nil)
        #expect(outcome.standardError?.contains("Usage:") == true)
    }

    @Test("--help goes to stdout with exit 0")
    func help() async {
        let outcome = await RaftyCommand.execute(["kv", "put", "--help"])
        #expect(outcome.exitCode == 0)
        #expect(outcome.standardError == nil)
        #expect(outcome.standardOutput?.contains("--value-file") == true)
    }

    @Test("An operation failure is one line on stderr with exit 1")
    func operationFailure() async {
        let outcome = await RaftyCommand.execute(["kv", "get", "k", "--endpoint", deadEndpoint, "--timeout", "2"])
        #expect(outcome.exitCode == 1)
        #expect(outcome.standardOutput == nil)
        let message = outcome.standardError
        #expect(message?.hasPrefix("rafty: error: ") == true)
        #expect(message?.contains("\n") == false)
        #expect(message?.contains("connection refused") == true)
    }

    @Test("Error lines are flattened to one line")
    func errorLine() {
        #expect(CommandOutcome.errorLine("Error: a\nb") == "rafty: error: a b")
    }
}
