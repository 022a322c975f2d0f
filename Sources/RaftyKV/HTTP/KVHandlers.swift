internal import Hummingbird
internal import NIOCore
internal import Prometheus
internal import Rafty

/// The request handlers; each turns a request into a call on the node and the answer into JSON.
struct KVHandlers: Sendable {
    let node: RaftNode
    let client: KVClient
    let limits: KVLimits
    let registry: PrometheusCollectorRegistry?
    let timeout: Duration
    /// How long a membership change may take (longer: a new voter has to catch up first).
    let membershipTimeout: Duration

    init(
        node: RaftNode, limits: KVLimits, registry: PrometheusCollectorRegistry?, timeout: Duration,
        membershipTimeout: Duration
    ) {
        self.node = node
        self.client = KVClient(node: node, limits: limits)
        self.limits = limits
        self.registry = registry
        self.timeout = timeout
        self.membershipTimeout = membershipTimeout
    }

    /// The leader's Raft address for error bodies, if known.
    var leaderAddress: String? { self.node.status.leaderAddress }

    func fail(_ error: KVError, _ operation: KVAPIError.Operation) -> KVAPIError {
        KVAPIError(error, operation: operation, leader: self.leaderAddress)
    }

    // MARK: - Request parsing

    /// The `{key}` path segment, percent-decoded; 400 if malformed or empty, 413 if too long.
    func key(_ context: KVRequestContext) throws -> [UInt8] {
        guard let raw = context.parameters.get("key"), let key = PercentEncoding.decode(raw[...]) else {
            throw KVAPIError(.badRequest, "invalid_key", "the key is not validly percent-encoded")
        }
        do {
            try self.limits.validate(key: key)
        } catch {
            throw self.fail(error, .write)
        }
        return key
    }

    /// The query parameters, refusing any not in `allowed` or given twice.
    func query(_ request: Request, allowed: [String]) throws -> [String: [UInt8]] {
        // Most requests carry no query string: no dictionary to build.
        guard let raw = request.uri.query, !raw.isEmpty else { return [:] }
        guard let pairs = PercentEncoding.decodeQuery(raw) else {
            throw KVAPIError.badRequest("the query string is not validly percent-encoded")
        }
        var parameters: [String: [UInt8]] = [:]
        for (name, value) in pairs {
            guard allowed.contains(name) else {
                let expected = allowed.isEmpty ? "none" : allowed.sorted().joined(separator: ", ")
                throw KVAPIError.badRequest("unknown query parameter '\(name)' (expected: \(expected))")
            }
            guard parameters.updateValue(value, forKey: name) == nil else {
                throw KVAPIError.badRequest("query parameter '\(name)' given twice")
            }
        }
        return parameters
    }

    /// The request body as a value, refused with 413 past ``KVLimits/maxValueBytes`` — from the
    /// `Content-Length` header before reading when there is one.
    func value(_ request: Request) async throws -> [UInt8] {
        // Built only when refused: it reads the node's status for the leader's address.
        func tooLarge() -> KVAPIError {
            KVAPIError(
                .contentTooLarge, "value_too_large", "the value exceeds \(self.limits.maxValueBytes) bytes; not applied",
                leader: self.leaderAddress)
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > self.limits.maxValueBytes {
            throw tooLarge()
        }
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: self.limits.maxValueBytes)
            return Array(buffer.readableBytesView)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw tooLarge()
        }
    }

    /// Decodes an optional JSON body; 400 if it is not valid.
    func json<T: Decodable>(_ type: T.Type, _ request: Request, context: KVRequestContext) async throws -> T? {
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        guard body.readableBytes > 0 else { return nil }
        do {
            return try await request.decode(as: type, context: context)
        } catch {
            throw KVAPIError.badRequest("the body is not the expected JSON: \(error)")
        }
    }
}
