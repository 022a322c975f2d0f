import ArgumentParser

/// What every change to an existing member takes: the endpoints, the timeout and the member's id.
struct ExistingMemberArguments: ParsableArguments {
    /// The endpoints and timeout (default 30 s).
    @OptionGroup var client: ClientOptions

    /// `--timeout`, 30 s by default: a new voter catches up first.
    var requestTimeout: Duration { self.client.timeoutDuration(default: ClientOptions.membershipTimeout) }

    /// The member.
    @Argument(help: "The node's id.")
    var id: UInt64

    /// Rejects id 0 (exit 2).
    func validate() throws { try MembersCommand.validate(id: self.id) }

    /// Carries out `change` and prints its `index N` line; failures are thrown as
    /// ``RaftyClientError`` (exit 1).
    func run(_ change: MembersCommand.Change) async throws {
        let line = try await RaftyHTTPClient.with(self.client, timeout: self.requestTimeout) { client in
            try await MembersCommand.change(change, of: self.id, with: client)
        }
        StandardStreams.writeLine(line, to: .output)
    }
}
