import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A small in-memory stand-in for the RaftyKV HTTP API (DESIGN §5), on 127.0.0.1 with a port
/// chosen by the kernel. It can be told to answer every request with a fixed error.
///
/// Members: it starts as the only (voting) member of its cluster, and serves `GET /v1/members`,
/// `POST /v1/members`, `DELETE /v1/members/{id}` and `POST /v1/members/{id}/promote|demote`
/// with the real server's error codes (409 `conflict` for a change that makes no sense).
final class FakeKVServer: Sendable {
    /// How the server answers.
    enum Mode: Sendable {
        /// Serve the API.
        case normal
        /// Answer every request with this status and the API's error JSON.
        case fail(status: Int, code: String, message: String, leader: String?)
        /// Receive requests but answer none until ``release()``.
        case hang
        /// Answer the first `requests` requests 429 `overloaded` with `Retry-After: 0`, then serve.
        case overloaded(requests: Int)
    }

    /// One request as received (path and query still percent-encoded).
    struct Received: Sendable, Equatable {
        var method: String
        var uri: String
        var body: [UInt8]
    }

    private struct State {
        var mode: Mode = .normal
        var values: [String: [UInt8]] = [:]
        var index: UInt64 = 0
        var members: [UInt64: (address: String, voter: Bool)] = [:]
        var received: [Received] = []
        var released = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    /// The node id reported by `/v1/status`.
    let id: UInt64

    /// Creates a server answering in `mode`.
    init(id: UInt64 = 1, mode: Mode = .normal) {
        self.id = id
        self.state.withLock { state in
            state.mode = mode
            state.members = [id: ("127.0.0.1:5005\(id)", true)]
        }
    }

    /// The members: id → voter.
    var members: [UInt64: Bool] { self.state.withLock { $0.members.mapValues(\.voter) } }

    /// Every request received so far.
    var received: [Received] { self.state.withLock { $0.received } }

    /// Lets requests held by ``Mode/hang`` go (they are answered with 504), now and from now on.
    func release() {
        let waiting = self.state.withLock { state in
            state.released = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Runs the server, calls `body` with its base URL (`http://127.0.0.1:PORT`), then stops it.
    func run<Result: Sendable>(_ body: @Sendable (String) async throws -> Result) async throws -> Result {
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            responder: CallbackResponder<BasicRequestContext> { request, _ in
                try await self.respond(to: request)
            },
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: Logger(label: "fake-kv", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let group = ServiceGroup(
            configuration: .init(services: [app], logger: Logger(label: "fake-kv", factory: { _ in SwiftLogNoOpLogHandler() }))
        )
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var ports = portStream.makeAsyncIterator()
            guard let port = await ports.next(), port > 0 else {
                await group.triggerGracefulShutdown()
                throw FakeServerFailed()
            }
            do {
                let result = try await body("http://127.0.0.1:\(port)")
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }

    private func respond(to request: Request) async throws -> Response {
        let body = Array((try await request.body.collect(upTo: 1 << 20)).readableBytesView)
        let uri = request.uri.description
        let method = request.method.rawValue
        let mode = self.state.withLock { state in
            state.received.append(Received(method: method, uri: uri, body: body))
            if case .overloaded(let requests) = state.mode, state.received.count > requests { state.mode = .normal }
            return state.mode
        }
        switch mode {
        case .overloaded:
            var response = Self.error(429, "overloaded", "the cluster is overloaded; not applied, retry later", leader: nil)
            response.headers[.retryAfter] = "0"
            return response
        case .fail(let status, let code, let message, let leader):
            return Self.error(status, code, message, leader: leader)
        case .hang:
            await withCheckedContinuation { continuation in
                let resumeNow = self.state.withLock { state in
                    if state.released { return true }
                    state.waiting.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            return Self.error(504, "timed_out", "released", leader: nil)
        case .normal:
            break
        }
        let path = request.uri.path
        let query = request.uri.query ?? ""
        if path == "/v1/status", request.method == .get {
            return Self.json(.ok, self.statusJSON())
        }
        if path == "/v1/leadership/transfer", request.method == .post {
            return Self.json(.ok, "{\"leader\":\(self.id)}")
        }
        if path == "/v1/members" || path.hasPrefix("/v1/members/") {
            return self.respondMembers(method: request.method, path: path, body: body)
        }
        guard path.hasPrefix("/v1/kv/") else {
            return Self.error(404, "not_found", "no such route", leader: nil)
        }
        let key = String(path.dropFirst("/v1/kv/".count))
        switch request.method {
        case .get:
            guard let value = self.state.withLock({ $0.values[key] }) else {
                return Self.error(404, "not_found", "key not found", leader: nil)
            }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: value)))
        case .put:
            return self.state.withLock { state in
                if query.hasPrefix("prevExist=false"), state.values[key] != nil {
                    return Self.error(409, "cas_failed", "key exists", leader: nil)
                }
                if query.hasPrefix("prev=") {
                    let expected = String(query.dropFirst("prev=".count))
                    let current = state.values[key].map { String(decoding: $0, as: UTF8.self) }
                    // Only plain ASCII values are compared, which is all the tests use.
                    guard current == expected else {
                        return Self.error(409, "cas_failed", "current value differs", leader: nil)
                    }
                }
                state.values[key] = body
                state.index += 1
                return Self.json(.ok, "{\"index\":\(state.index)}")
            }
        case .delete:
            return self.state.withLock { state in
                state.values[key] = nil
                state.index += 1
                return Self.json(.ok, "{\"index\":\(state.index)}")
            }
        default:
            return Self.error(400, "bad_request", "unsupported method", leader: nil)
        }
    }

    private func respondMembers(method: HTTPRequest.Method, path: String, body: [UInt8]) -> Response {
        let parts = path.split(separator: "/").dropFirst(2)  // after "v1", "members"
        return self.state.withLock { state in
            func changed() -> Response {
                state.index += 1
                return Self.json(.ok, "{\"index\":\(state.index)}")
            }
            switch (method, parts.count) {
            case (.get, 0):
                let members = state.members.keys.sorted().map { id in
                    "{\"id\":\(id),\"address\":\"\(state.members[id]!.address)\",\"voter\":\(state.members[id]!.voter)}"
                }
                return Self.json(.ok, "{\"members\":[\(members.joined(separator: ","))]}")
            case (.post, 0):
                guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
                    let id = (object["id"] as? Int).flatMap(UInt64.init(exactly:)), let address = object["address"] as? String
                else {
                    return Self.error(400, "bad_request", "the body is not the expected JSON", leader: nil)
                }
                guard state.members[id] == nil else {
                    return Self.error(409, "conflict", "node \(id) is already a member", leader: nil)
                }
                state.members[id] = (address, (object["voter"] as? Bool) ?? true)
                return changed()
            case (_, 1), (_, 2):
                guard let id = UInt64(parts[parts.startIndex]), let member = state.members[id] else {
                    return Self.error(409, "conflict", "node \(parts[parts.startIndex]) is not a member", leader: nil)
                }
                switch (method, parts.count == 2 ? String(parts[parts.startIndex + 1]) : nil) {
                case (.delete, nil):
                    state.members[id] = nil
                    return changed()
                case (.post, "promote"?) where !member.voter, (.post, "demote"?) where member.voter:
                    state.members[id]!.voter.toggle()
                    return changed()
                case (.post, "promote"?), (.post, "demote"?):
                    return Self.error(409, "conflict", "node \(id) is \(member.voter ? "already" : "not") a voter", leader: nil)
                default:
                    return Self.error(404, "not_found", "no such route", leader: nil)
                }
            default:
                return Self.error(404, "not_found", "no such route", leader: nil)
            }
        }
    }

    private func statusJSON() -> String {
        let index = self.state.withLock { $0.index }
        return """
            {"id":\(self.id),"address":"127.0.0.1:5005\(self.id)","state":"leader","term":3,\
            "commitIndex":\(index),"lastApplied":\(index),"leaderID":\(self.id),\
            "leaderAddress":"127.0.0.1:5005\(self.id)","lastLeaderContact":0,\
            "members":[{"id":\(self.id),"address":"127.0.0.1:5005\(self.id)","voter":true}]}
            """
    }

    private static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: text))
        )
    }

    private static func error(_ status: Int, _ code: String, _ message: String, leader: String?) -> Response {
        let leaderField = leader.map { ",\"leader\":\"\($0)\"" } ?? ""
        return Self.json(
            HTTPResponse.Status(code: status),
            "{\"error\":{\"code\":\"\(code)\",\"message\":\"\(message)\"\(leaderField)}}"
        )
    }
}

/// The fake server did not report its port.
struct FakeServerFailed: Error {}

/// Runs two fake servers at once and calls `body` with both base URLs.
func withFakeServers<Result: Sendable>(
    _ first: FakeKVServer,
    _ second: FakeKVServer,
    _ body: @Sendable (String, String) async throws -> Result
) async throws -> Result {
    try await first.run { firstURL in
        try await second.run { secondURL in
            try await body(firstURL, secondURL)
        }
    }
}

/// An endpoint nobody listens on (port 1 on loopback: connection refused at once).
let deadEndpoint = "http://127.0.0.1:1"
