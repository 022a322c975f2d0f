import ArgumentParser

/// The options every HTTP client subcommand shares: where the cluster is and how long to wait.
struct ClientOptions: ParsableArguments {
    /// The endpoint used when none is given.
    static let defaultEndpoint = "http://127.0.0.1:8080"

    /// The `--endpoint` values as given (see ``endpoints``).
    @Option(
        name: .customLong("endpoint"),
        help: ArgumentHelp(
            "HTTP endpoint of a node (repeatable, or comma-separated); tried in order. Default: \(Self.defaultEndpoint).",
            valueName: "url"
        )
    )
    var endpointArguments: [String] = []

    /// The `--timeout` default, in seconds.
    static let defaultTimeout: Double = 5
    /// The `--timeout` default of membership changes and bootstrap, in seconds: a new voter
    /// catches up first.
    static let membershipTimeout: Double = 30

    /// Seconds to wait for each request; nil: the command's default.
    @Option(
        help: ArgumentHelp(
            "Seconds to wait for each request. Default: \(Int(Self.defaultTimeout)); \(Int(Self.membershipTimeout)) for membership changes and bootstrap.",
            valueName: "seconds"))
    var timeout: Double?

    /// HTTPS and authentication.
    @OptionGroup var security: ClientSecurityOptions

    /// The endpoints in the order given: commas split, `HOST:PORT` gets `http://`, no trailing `/`.
    var endpoints: [String] {
        get throws { try Self.endpoints(from: self.endpointArguments) }
    }

    /// The endpoints `arguments` name, in order: commas split, `HOST:PORT` gets `http://`, no
    /// trailing `/`; the default endpoint if there are none.
    static func endpoints(from arguments: [String]) throws -> [String] {
        let raw =
            arguments
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingWhitespace() }
            .filter { !$0.isEmpty }
        return try (raw.isEmpty ? [Self.defaultEndpoint] : raw).map(Self.normalizedEndpoint)
    }

    /// The request timeout: `--timeout`, or `seconds` (the command's default) if not given.
    func timeoutDuration(default seconds: Double = Self.defaultTimeout) -> Duration {
        .nanoseconds(Int64((self.timeout ?? seconds) * 1_000_000_000))
    }

    /// Rejects bad values and combinations; the error is a usage error (exit 2).
    mutating func validate() throws {
        if let timeout = self.timeout {
            guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
        }
        _ = try self.endpoints
    }

    /// Checks one endpoint and puts it in canonical form (`http://host:port`, no trailing slash).
    static func normalizedEndpoint(_ text: String) throws -> String {
        var endpoint = text
        if !endpoint.contains("://") { endpoint = "http://" + endpoint }
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        let scheme = endpoint.prefix { $0 != ":" }.lowercased()
        guard scheme == "http" || scheme == "https" else {
            throw ValidationError("invalid --endpoint '\(text)': the scheme must be http or https")
        }
        let rest = endpoint.drop { $0 != ":" }.dropFirst(3)
        guard !rest.isEmpty, !rest.hasPrefix(":"), !rest.contains("/"), !rest.contains(where: \.isWhitespace) else {
            throw ValidationError("invalid --endpoint '\(text)': expected http://HOST:PORT")
        }
        return endpoint
    }
}

extension StringProtocol {
    /// The text without leading and trailing whitespace.
    func trimmingWhitespace() -> String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
