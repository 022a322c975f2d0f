internal import Foundation
internal import Hummingbird
internal import Rafty

/// An error answer of the HTTP API: `{"error": {"code", "message", "leader"}}`.
///
/// A 503 or a 4xx promises that a write was not applied and never will be; whenever that is
/// not known the answer is 504 and the message says the outcome is unknown.
struct KVAPIError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    /// The known leader's Raft address; omitted from the JSON when unknown.
    var leader: String?
    /// Seconds a client should wait before it retries (sent as `Retry-After`).
    var retryAfter: Int?

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, leader: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.leader = leader
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        self.response()
    }

    func response() -> Response {
        var response = jsonResponse(body: ByteBuffer(bytes: self.body), status: self.status)
        if let retryAfter = self.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }

    /// The JSON body, written by hand: with `JSONEncoder` a 404 for a missing key cost the leader
    /// 60 % more CPU than a read that found its key.
    var body: [UInt8] {
        var json: [UInt8] = []
        json.reserveCapacity(48 + self.code.utf8.count + self.message.utf8.count + (self.leader?.utf8.count ?? 0))
        json.append(contentsOf: #"{"error":{"code":"#.utf8)
        Self.appendString(self.code, to: &json)
        json.append(contentsOf: #","message":"#.utf8)
        Self.appendString(self.message, to: &json)
        if let leader = self.leader {
            json.append(contentsOf: #","leader":"#.utf8)
            Self.appendString(leader, to: &json)
        }
        json.append(contentsOf: "}}".utf8)
        return json
    }

    /// Appends `string` as a JSON string literal (RFC 8259: quote, backslash and control
    /// characters escaped; everything else as UTF-8).
    private static func appendString(_ string: String, to json: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        json.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): json.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): json.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): json.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): json.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): json.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                json.append(contentsOf: #"\u00"#.utf8)
                json.append(hex[Int(byte >> 4)])
                json.append(hex[Int(byte & 0xF)])
            default: json.append(byte)
            }
        }
        json.append(UInt8(ascii: "\""))
    }

    // MARK: - Mapping

    /// What a request was, for mapping errors: only for writes is "outcome unknown" possible.
    enum Operation {
        case write, read
    }

    /// Maps a runtime error. Unknown codes are treated as "outcome unknown" for writes.
    init(_ error: RaftError, operation: Operation, leader: String?) {
        let unknownOutcome = "the outcome is unknown (the write may or may not be applied): \(error.message)"
        switch error.code {
        case .timedOut:
            let message = operation == .write ? unknownOutcome : "the read timed out: \(error.message)"
            self.init(.gatewayTimeout, "timed_out", message, leader: leader)
        case .overloaded:
            // Refused before it reached the log: not applied, whatever the operation.
            self.init(.tooManyRequests, "overloaded", "the cluster is overloaded; not applied, retry later: \(error.message)", leader: leader)
            self.retryAfter = 1
        case .noLeader:
            self.init(.serviceUnavailable, "no_leader", "no leader is known; not applied: \(error.message)", leader: leader)
        case .notLeader:
            self.init(.serviceUnavailable, "not_leader", "not applied: \(error.message)", leader: leader)
        case .shuttingDown:
            self.init(.serviceUnavailable, "shutting_down", "the node is shutting down; not applied: \(error.message)", leader: leader)
        case .rejected:
            self.init(.serviceUnavailable, "rejected", "the cluster refused the request; not applied: \(error.message)", leader: leader)
        case .unreachable where operation == .read:
            self.init(.serviceUnavailable, "unreachable", "the leader could not be reached: \(error.message)", leader: leader)
        case .storage:
            self.init(.internalServerError, "internal", "storage failure: \(error.message)", leader: leader)
        case .invalidConfiguration, .alreadyRunning:
            self.init(.internalServerError, "internal", error.description, leader: leader)
        default:
            // `.unreachable` on a write (a forwarded write lost in transit may have been applied),
            // and any code added later: never promise "not applied".
            if operation == .write {
                self.init(.gatewayTimeout, "timed_out", unknownOutcome, leader: leader)
            } else {
                self.init(.internalServerError, "internal", error.description, leader: leader)
            }
        }
    }

    /// Maps a ``KVError`` from ``KVClient``.
    init(_ error: KVError, operation: Operation, leader: String?) {
        switch error.code {
        case .cluster:
            self.init(error.raftError ?? RaftError(.unreachable, error.message), operation: operation, leader: leader)
        case .invalidKey:
            self.init(.badRequest, "invalid_key", error.message, leader: leader)
        case .keyTooLarge:
            self.init(.contentTooLarge, "key_too_large", error.message, leader: leader)
        case .valueTooLarge:
            self.init(.contentTooLarge, "value_too_large", error.message, leader: leader)
        default:
            // A result that cannot be decoded came back after the command was committed.
            let message = operation == .write ? "\(error.message); the write may have been applied" : error.message
            self.init(.internalServerError, "internal", message, leader: leader)
        }
    }

    /// Maps the error of a membership change.
    ///
    /// - 409 `conflict`: the cluster refused the change (`RaftError/Code/rejected`: already a
    ///   member, not a member, too few reachable voters left, ...); not applied.
    /// - 409 `membership_change_in_progress`: another change is being carried out; not started.
    /// - 409 `too_slow`: the new voter did not catch up in time; it is a member, but a read-only member.
    /// - otherwise as a write (503 not applied, 504 outcome unknown).
    init(membershipError error: RaftError, change: MembershipChange, leader: String?) {
        switch error.code {
        case .rejected:
            self.init(.conflict, "conflict", "the cluster refused to \(change); not applied: \(error.message)", leader: leader)
        case .membershipChangeInProgress:
            self.init(
                .conflict, "membership_change_in_progress", "\(change) not started: \(error.message)", leader: leader)
        case .tooSlow:
            let state: String
            if case .add = change {
                state = "node \(change.node) was added as a read-only member and stays one (promote it once it has caught up)"
            } else {
                state = "node \(change.node) stays a read-only member"
            }
            self.init(.conflict, "too_slow", "\(state): \(error.message)", leader: leader)
        case .timedOut:
            self.init(
                .gatewayTimeout, "timed_out",
                "the outcome of \(change) is unknown (it may or may not be applied): \(error.message)", leader: leader)
        default:
            self.init(error, operation: .write, leader: leader)
        }
    }

    static func badRequest(_ message: String) -> Self {
        Self(.badRequest, "bad_request", message)
    }

    /// A membership change the server refuses by itself (bad id, bad address, no body).
    static func invalidMemberChange(_ message: String) -> Self {
        Self(.badRequest, "invalid_member_change", message)
    }
}

/// `{"index":N}`, the answer to every write: formatted by hand, as `JSONEncoder` would, because
/// encoding it took about 3 % of a leader's CPU under a write load.
func indexResponse(_ index: UInt64) -> Response {
    jsonResponse(body: ByteBuffer(string: "{\"index\":\(index)}"))
}

/// `{"index":N,"deleted":B}`, the answer to a delete, formatted by hand like ``indexResponse(_:)``.
func deleteResponse(index: UInt64, deleted: Bool) -> Response {
    jsonResponse(body: ByteBuffer(string: "{\"index\":\(index),\"deleted\":\(deleted)}"))
}

/// `{"status":"S"}`, the answer of `/health` and `/ready` (polled often by load balancers).
func healthResponse(_ status: StaticString) -> Response {
    jsonResponse(body: ByteBuffer(string: "{\"status\":\"\(status)\"}"))
}

/// A JSON response whose body is already formatted.
func jsonResponse(body: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
}

/// Encodes `value` as a JSON response.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
    // Encoding these plain structs cannot fail.
    let data = (try? JSONEncoder().encode(value)) ?? Data("{}".utf8)
    return jsonResponse(body: ByteBuffer(bytes: data), status: status)
}
