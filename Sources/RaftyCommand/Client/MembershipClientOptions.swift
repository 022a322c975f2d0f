import ArgumentParser

/// The client options of the membership changes: `--endpoint` as in ``ClientOptions``, and a
/// longer default `--timeout` (30 s) because a new voter first has to catch up with the log.
struct MembershipClientOptions: ParsableArguments {
    /// The default `--timeout`, in seconds.
    static let defaultTimeout: Double = 30

    /// The `--endpoint` values as given (see ``endpoints``).
    @Option(
        name: .customLong("endpoint"),
        help: ArgumentHelp(
            "HTTP endpoint of a node (repeatable, or comma-separated); tried in order. Default: \(ClientOptions.defaultEndpoint).",
            valueName: "url"
        )
    )
    var endpointArguments: [String] = []

    /// Seconds to wait for the change.
    @Option(help: ArgumentHelp("Seconds to wait for the change (a new voter catches up first).", valueName: "seconds"))
    var timeout: Double = Self.defaultTimeout

    /// HTTPS and authentication.
    @OptionGroup var security: ClientSecurityOptions

    /// The endpoints in the order given, normalised as ``ClientOptions/endpoints``.
    var endpoints: [String] {
        get throws { try ClientOptions.endpoints(from: self.endpointArguments) }
    }

    /// The request timeout as a `Duration`.
    var timeoutDuration: Duration { .nanoseconds(Int64(self.timeout * 1_000_000_000)) }

    /// Rejects bad values; the error is a usage error (exit 2).
    mutating func validate() throws {
        guard self.timeout > 0, self.timeout.isFinite else {
            throw ValidationError("--timeout must be a positive number of seconds")
        }
        _ = try self.endpoints
    }
}

extension RaftyHTTPClient {
    /// Runs `body` with a client configured by membership `options`.
    static func with<Result: Sendable>(
        _ options: MembershipClientOptions,
        _ body: (RaftyHTTPClient) async throws -> Result
    ) async throws -> Result {
        try await self.with(endpoints: try options.endpoints, timeout: options.timeoutDuration, security: try options.security.security(), body)
    }
}
