import ArgumentParser

/// `rafty bench`: a closed-loop load generator against the HTTP API.
struct BenchCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load generator: N clients loop on random GET/PUT; prints throughput and latency percentiles.",
        discussion: """
            Clients are spread round-robin over the endpoints (no failover). A progress line goes to \
            stderr every second; the report goes to stdout, as a table or (--json) one JSON object.
            """
    )

    /// The endpoints and timeout.
    @OptionGroup var client: ClientOptions

    /// Number of concurrent clients.
    @Option(help: "Concurrent clients, each with one request in flight.")
    var clients = 1

    /// Run time in seconds.
    @Option(help: ArgumentHelp("How long to run, in seconds.", valueName: "seconds"))
    var duration: Double = 10

    /// Bytes per written value.
    @Option(name: .customLong("value-size"), help: ArgumentHelp("Bytes per written value.", valueName: "bytes"))
    var valueSize = 128

    /// Number of distinct keys.
    @Option(help: "Number of distinct keys (bench-0 ... bench-K-1).")
    var keys = 1000

    /// Fraction of operations that are reads.
    @Option(name: .customLong("read-ratio"), help: ArgumentHelp("Fraction of operations that are reads (0...1).", valueName: "ratio"))
    var readRatio: Double = 0

    /// The read consistency (nil: the server's default, linearizable).
    @Option(help: "Read consistency: linearizable, lease or stale (server default when omitted).")
    var consistency: Consistency?

    /// Print JSON instead of a table.
    @Flag(help: "Print the report as one JSON object.")
    var json = false

    /// Rejects bad values and combinations; the error is a usage error (exit 2).
    mutating func validate() throws {
        guard self.clients >= 1 else { throw ValidationError("--clients must be at least 1") }
        guard self.duration > 0, self.duration.isFinite else { throw ValidationError("--duration must be positive") }
        guard (0...1).contains(self.readRatio) else { throw ValidationError("--read-ratio must be between 0 and 1") }
        guard self.valueSize >= 0 else { throw ValidationError("--value-size must not be negative") }
        guard self.keys >= 1 else { throw ValidationError("--keys must be at least 1") }
    }

    /// The workload these flags describe.
    func workload() throws -> BenchWorkload {
        BenchWorkload(
            endpoints: try self.client.endpoints,
            clients: self.clients,
            duration: .nanoseconds(Int64(self.duration * 1_000_000_000)),
            valueSize: self.valueSize,
            keys: self.keys,
            readRatio: self.readRatio,
            consistency: self.consistency
        )
    }

    /// Runs the command; failures are thrown as ``RaftyClientError`` (exit 1).
    func run() async throws {
        let workload = try self.workload()
        let report = try await RaftyHTTPClient.with(
            endpoints: workload.endpoints,
            timeout: self.client.timeoutDuration(),
            connectionsPerHost: workload.clients,
            security: try self.client.security.security()
        ) { client in
            await BenchRunner(workload: workload, client: client).run { line in
                StandardStreams.writeLine(line, to: .error)
            }
        }
        StandardStreams.writeLine(self.json ? report.json() : report.table(), to: .output)
    }
}
