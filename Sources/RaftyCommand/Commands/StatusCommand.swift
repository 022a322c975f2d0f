import ArgumentParser
internal import Foundation

/// `rafty status`: the status of every endpoint given, as a table or JSON.
struct StatusCommand: AsyncParsableCommand {
    /// Name, help and subcommands.
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the status of every endpoint given (exit 1 only if none answers)."
    )

    /// The endpoints and timeout.
    @OptionGroup var client: ClientOptions

    /// Print JSON instead of a table.
    @Flag(help: "Print a JSON array of the status objects (null for an endpoint that failed).")
    var json = false

    /// The answer of one endpoint.
    struct Row: Equatable, Sendable {
        /// The endpoint asked.
        var endpoint: String
        /// Its status, or the reason it could not be had.
        var result: Result<NodeStatus, Failure>

        /// Why an endpoint has no status (an `Error` so it fits in `Result`).
        struct Failure: Error, Equatable {
            /// The reason.
            var reason: String
        }
    }

    /// Runs the command; failures are thrown as ``RaftyClientError`` (exit 1).
    func run() async throws {
        let rows = try await RaftyHTTPClient.with(self.client) { client in
            await Self.fetch(with: client)
        }
        StandardStreams.writeLine(self.json ? Self.renderJSON(rows) : Self.renderTable(rows), to: .output)
        if !rows.contains(where: { (try? $0.result.get()) != nil }) {
            throw RaftyClientError.unavailable(
                rows.map {
                    .init(endpoint: $0.endpoint, reason: Self.failureReason($0) ?? "")
                })
        }
    }

    /// Asks every endpoint of `client` at once (no failover: each row is one endpoint).
    static func fetch(with client: RaftyHTTPClient) async -> [Row] {
        await withTaskGroup(of: (Int, Row).self) { group in
            for (position, endpoint) in client.endpoints.enumerated() {
                group.addTask {
                    (position, Row(endpoint: endpoint, result: await Self.fetch(endpoint, with: client)))
                }
            }
            var rows: [(Int, Row)] = []
            for await row in group { rows.append(row) }
            return rows.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    private static func fetch(_ endpoint: String, with client: RaftyHTTPClient) async -> Result<NodeStatus, Row.Failure> {
        let response: APIResponse
        do {
            response = try await client.send(APIRequest(.get, "/v1/status"), to: endpoint)
        } catch {
            return .failure(.init(reason: error.reason))
        }
        guard response.isSuccess else {
            return .failure(.init(reason: response.serverError.description))
        }
        guard let status = try? JSONDecoder().decode(NodeStatus.self, from: Data(response.body)) else {
            return .failure(.init(reason: "invalid status JSON"))
        }
        return .success(status)
    }

    private static func failureReason(_ row: Row) -> String? {
        if case .failure(let failure) = row.result { return failure.reason }
        return nil
    }

    /// The status table: one line per endpoint, `unreachable` (and the reason) for failures.
    static func renderTable(_ rows: [Row]) -> String {
        let header = ["ENDPOINT", "ID", "ADDRESS", "STATE", "TERM", "COMMIT", "APPLIED", "LEADER", "LAST CONTACT"]
        let cells = rows.map { row -> [String] in
            switch row.result {
            case .failure(let failure):
                return [row.endpoint, "-", "-", "unreachable", "-", "-", "-", "-", failure.reason]
            case .success(let status):
                return [
                    row.endpoint,
                    status.id ?? "-",
                    status.address ?? "-",
                    status.state ?? "-",
                    status.term.map(String.init) ?? "-",
                    status.commitIndex.map(String.init) ?? "-",
                    status.lastApplied.map(String.init) ?? "-",
                    Self.leader(of: status),
                    status.lastLeaderContact.map(Self.formatMilliseconds) ?? "-",
                ]
            }
        }
        return TextTable.render(header: header, rows: cells) + Self.renderMembers(rows)
    }

    /// The members as the leader sees them (reachability, last contact, match index, lag), when
    /// one of the endpoints is the leader and reports them; else nothing.
    static func renderMembers(_ rows: [Row]) -> String {
        guard let leader = rows.compactMap({ try? $0.result.get() }).first(where: { $0.state == "leader" }),
            let members = leader.members, members.contains(where: { $0.matchIndex != nil || $0.reachable != nil })
        else { return "" }
        let header = ["MEMBER", "ADDRESS", "VOTER", "REACHABLE", "LAST CONTACT", "MATCH", "LAG"]
        let cells = members.map { member -> [String] in
            [
                member.id ?? "-", member.address ?? "-", member.voter.map { $0 ? "yes" : "no" } ?? "-",
                member.reachable.map { $0 ? "yes" : "no (down)" } ?? "-",
                member.id == leader.id ? "(leader)" : member.lastContact.map(Self.formatMilliseconds) ?? "never",
                member.matchIndex.map(String.init) ?? "-", member.lag.map(String.init) ?? "-",
            ]
        }
        return "\n\nmembers, as leader \(leader.id ?? "?") sees them:\n" + TextTable.render(header: header, rows: cells)
    }

    /// The JSON array of status objects, in endpoint order; `null` where an endpoint failed.
    static func renderJSON(_ rows: [Row]) -> String {
        let statuses = rows.map { try? $0.result.get() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(statuses) else { return "[]" }
        return String(decoding: data, as: UTF8.self)
    }

    /// `ID (ADDRESS)` of the leader, whichever parts are known, or `-`.
    static func leader(of status: NodeStatus) -> String {
        switch (status.leaderID, status.leaderAddress) {
        case (let id?, let address?): return "\(id) (\(address))"
        case (let id?, nil): return id
        case (nil, let address?): return address
        case (nil, nil): return "-"
        }
    }

    /// `850ms` below a second, `1.25s` below a minute, `3m05s` beyond.
    static func formatMilliseconds(_ milliseconds: Double) -> String {
        if milliseconds < 1000 { return "\(Int(milliseconds.rounded()))ms" }
        let seconds = milliseconds / 1000
        if seconds < 60 { return Decimal2.format(seconds) + "s" }
        let whole = Int(seconds)
        let remainder = whole % 60
        return "\(whole / 60)m" + (remainder < 10 ? "0" : "") + "\(remainder)s"
    }
}
