internal import AsyncHTTPClient
internal import NIOCore
internal import NIOHTTP1

/// The HTTP API client of the `rafty` subcommands: one `HTTPClient` per process, a list of
/// endpoints and the failover rules of the contract.
///
/// Failover: endpoints are tried in order. The next one is tried when no connection could be made
/// or the server answered 503 (which promises the request was not applied). For a write nothing
/// else moves on: a 504, or a connection lost after the request may have been sent, is reported as
/// ``RaftyClientError/outcomeUnknown(endpoint:reason:)``, never retried elsewhere. Reads are
/// idempotent and also move on after timeouts and dropped connections. A 429 (the cluster is
/// overloaded; not applied) is retried at the same endpoint after its `Retry-After` (at most
/// ``maximumOverloadRetries`` times, each wait at most ``maximumRetryAfter``), then moves on.
struct RaftyHTTPClient: Sendable {
    /// How often a 429 is retried at one endpoint.
    static let maximumOverloadRetries = 5
    /// The longest wait a `Retry-After` may ask for.
    static let maximumRetryAfter: Duration = .seconds(5)

    /// The largest answer body accepted.
    static let maximumBodySize = 64 << 20

    /// The underlying client (shared by all requests of the process).
    let http: HTTPClient
    /// Endpoints in the order they are tried.
    let endpoints: [String]
    /// How long each request may take.
    let timeout: Duration
    /// Sent as `Authorization: Bearer <token>`.
    var token: String?

    /// Runs `body` with a client for `endpoints`, shutting the `HTTPClient` down afterwards.
    ///
    /// - Parameters:
    ///   - endpoints: the endpoints, normalised (see ``ClientOptions/normalizedEndpoint(_:)``).
    ///   - timeout: the limit for each request (also the connect timeout).
    ///   - connectionsPerHost: how many connections the pool may keep open per endpoint.
    static func with<Result: Sendable>(
        endpoints: [String],
        timeout: Duration,
        connectionsPerHost: Int = 8,
        security: ClientSecurity = ClientSecurity(),
        _ body: (RaftyHTTPClient) async throws -> Result
    ) async throws -> Result {
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = security.tls
        configuration.httpVersion = .http1Only
        configuration.timeout = .init(connect: TimeAmount(timeout), read: nil)
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, connectionsPerHost)
        )
        // A refused connection must fail the request at once (and move on to the next endpoint)
        // rather than be retried with backoff until the request's deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let client = RaftyHTTPClient(http: http, endpoints: endpoints, timeout: timeout, token: security.token)
        let result: Result
        do {
            result = try await body(client)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        return result
    }

    /// Runs `body` with a client configured by `options`; `timeout` (the command's request
    /// timeout) replaces the options' own.
    static func with<Result: Sendable>(
        _ options: ClientOptions, timeout: Duration? = nil,
        _ body: (RaftyHTTPClient) async throws -> Result
    ) async throws -> Result {
        try await self.with(endpoints: try options.endpoints, timeout: timeout ?? options.timeoutDuration(), security: try options.security.security(), body)
    }

    /// Sends `request` with failover (see the type's documentation) and returns the first answer
    /// that is not a 503. Non-2xx answers are returned, not thrown, except a 504 to a write.
    func send(_ request: APIRequest) async throws(RaftyClientError) -> APIResponse {
        var attempts: [RaftyClientError.Attempt] = []
        for endpoint in self.endpoints {
            let response: APIResponse
            do {
                response = try await self.sendRetryingOverload(request, to: endpoint)
            } catch {
                if request.isWrite && !error.requestNotSent {
                    throw .outcomeUnknown(endpoint: endpoint, reason: error.reason)
                }
                attempts.append(.init(endpoint: endpoint, reason: error.reason))
                continue
            }
            if response.status == 503 || response.status == 429 {
                attempts.append(.init(endpoint: endpoint, reason: Self.reason(of: response)))
                continue
            }
            if response.status == 504 && request.isWrite {
                throw .outcomeUnknown(endpoint: endpoint, reason: Self.reason(of: response))
            }
            return response
        }
        throw .unavailable(attempts)
    }

    /// Sends `request` to one endpoint, retrying a 429 (not applied) after its `Retry-After`, at
    /// most ``maximumOverloadRetries`` times; returns the last answer.
    func sendRetryingOverload(_ request: APIRequest, to endpoint: String) async throws(TransportFailure) -> APIResponse {
        var response = try await self.send(request, to: endpoint)
        for _ in 0..<Self.maximumOverloadRetries where response.status == 429 {
            let wait = min(Duration.seconds(max(response.retryAfter ?? 1, 0)), Self.maximumRetryAfter)
            do { try await Task.sleep(for: wait) } catch { break }
            response = try await self.send(request, to: endpoint)
        }
        return response
    }

    /// Sends `request` to one endpoint, without failover.
    func send(_ request: APIRequest, to endpoint: String) async throws(TransportFailure) -> APIResponse {
        var httpRequest = HTTPClientRequest(url: endpoint + request.target)
        httpRequest.method = HTTPMethod(rawValue: request.method.rawValue)
        if let token = self.token { httpRequest.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body = request.body {
            httpRequest.body = .bytes(ByteBuffer(bytes: body))
            httpRequest.headers.add(name: "Content-Type", value: request.contentType ?? "application/octet-stream")
        }
        do {
            let response = try await self.http.execute(httpRequest, timeout: TimeAmount(self.timeout))
            let body = try await response.body.collect(upTo: Self.maximumBodySize)
            return APIResponse(
                endpoint: endpoint, status: Int(response.status.code), body: Array(body.readableBytesView),
                retryAfter: response.headers.first(name: "Retry-After").flatMap { Int($0) })
        } catch {
            throw TransportFailure(error)
        }
    }

    /// The status and server message of an error answer, for "not served" and "unknown" reports.
    private static func reason(of response: APIResponse) -> String {
        let detail = ServerErrorBody.parse(response.body)
        var text = "\(response.status)"
        if let code = detail?.code { text += " \(code)" }
        if let message = detail?.message { text += ": \(message)" }
        if let leader = detail?.leader, !leader.isEmpty { text += " (leader: \(leader))" }
        return text
    }
}
