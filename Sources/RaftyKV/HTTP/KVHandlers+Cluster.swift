internal import Hummingbird
internal import NIOCore
internal import Prometheus
internal import Rafty

/// `{"to": ID}` (optional): the body of `POST /v1/leadership/transfer`.
struct TransferLeadershipRequest: Decodable {
    var to: UInt64?
}

/// `{"leaderID": N}`: the leader after a transfer.
struct LeaderJSON: Encodable {
    var leaderID: UInt64
}

/// `{"members": [ids]}`: the answer of `POST /v1/bootstrap`.
struct BootstrapJSON: Encodable {
    var members: [UInt64]
}

extension KVHandlers {
    /// `GET /v1/status`.
    func status(_ request: Request, context: KVRequestContext) async throws -> Response {
        jsonResponse(StatusJSON(self.node.status))
    }

    /// `POST /v1/leadership/transfer` (`{"to": ID}` optional: else the most up-to-date voter) —
    /// 200 `{"leaderID": N}` once the new leader took over; 400 if `to` is not a voting member.
    func transferLeadership(_ request: Request, context: KVRequestContext) async throws -> Response {
        let target = try await self.json(TransferLeadershipRequest.self, request, context: context)?.to
        if let target {
            guard target != 0, let voter = self.node.status.member(target)?.isVoter else {
                throw KVAPIError.badRequest("node \(target) is not a member of the cluster")
            }
            guard voter else { throw KVAPIError.badRequest("node \(target) is not a voter") }
        }
        do {
            let leader = try await self.node.transferLeadership(to: target, timeout: self.timeout)
            return jsonResponse(LeaderJSON(leaderID: leader))
        } catch {
            // Like a write: past the deadline leadership may or may not have moved.
            throw KVAPIError(error, operation: .write, leader: self.leaderAddress)
        }
    }

    /// `POST /v1/bootstrap` — on a node started with `--bootstrap`: form the cluster from this
    /// node and its peers. 200 `{"members": [...]}`; 409 `conflict` once the cluster exists (or
    /// the node was not started to wait for a bootstrap); 503 if a peer's id is not known yet.
    func bootstrap(_ request: Request, context: KVRequestContext) async throws -> Response {
        do {
            let members = try await self.node.bootstrap(timeout: self.membershipTimeout)
            return jsonResponse(BootstrapJSON(members: members))
        } catch {
            switch error.code {
            case .rejected:
                throw KVAPIError(.conflict, "conflict", "not bootstrapped: \(error.message)", leader: self.leaderAddress)
            case .unreachable:
                throw KVAPIError(.serviceUnavailable, "unreachable", "not bootstrapped: \(error.message)", leader: self.leaderAddress)
            default:
                throw KVAPIError(error, operation: .write, leader: self.leaderAddress)
            }
        }
    }

    /// `GET /metrics` — the registry in Prometheus text format.
    func metrics(_ request: Request, context: KVRequestContext) async throws -> Response {
        guard let registry = self.registry else {
            throw KVAPIError(.notFound, "not_found", "no metrics registry is configured")
        }
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `GET /health` — 200 while the server serves.
    func health(_ request: Request, context: KVRequestContext) async throws -> Response {
        healthResponse("ok")
    }

    /// `GET /ready` — 200 when a leader is known and everything committed is applied, else 503.
    func ready(_ request: Request, context: KVRequestContext) async throws -> Response {
        let status = self.node.status
        guard status.state != .down, status.leaderID != nil else {
            throw KVAPIError(.serviceUnavailable, "not_ready", "no leader is known")
        }
        guard status.lastApplied >= status.commitIndex else {
            throw KVAPIError(
                .serviceUnavailable, "not_ready",
                "applied \(status.lastApplied) of \(status.commitIndex) committed entries", leader: status.leaderAddress)
        }
        return healthResponse("ready")
    }
}
