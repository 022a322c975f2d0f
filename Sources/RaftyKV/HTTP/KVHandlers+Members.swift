internal import Hummingbird
internal import RaftCore
internal import Rafty

extension KVHandlers {
    /// `GET /v1/members` — `{"members": [{"id", "address", "voter"}]}`, sorted by id.
    func members(_ request: Request, context: KVRequestContext) async throws -> Response {
        jsonResponse(MembersJSON(members: MemberJSON.members(of: self.node.status)))
    }

    /// `POST /v1/members` with `{"id", "address", "voter"}` (`voter` defaults to true) — 200
    /// `{"index": N}` once the node is a member (a voter: once it caught up and was promoted).
    func addMember(_ request: Request, context: KVRequestContext) async throws -> Response {
        guard let body = try await self.json(AddMemberRequest.self, request, context: context) else {
            throw KVAPIError.invalidMemberChange("the body must be {\"id\": N, \"address\": \"host:port\", \"voter\": Bool}")
        }
        let member = try body.validated()
        return try await self.change(.add(id: member.id, address: member.address, asVoter: member.voter ?? true))
    }

    /// `DELETE /v1/members/{id}` — 200 `{"index": N}` once the node is no longer a member.
    func removeMember(_ request: Request, context: KVRequestContext) async throws -> Response {
        try await self.change(.remove(id: try self.memberID(context)))
    }

    /// `POST /v1/members/{id}/promote` — 200 `{"index": N}` once the read-only member caught up and votes.
    func promoteMember(_ request: Request, context: KVRequestContext) async throws -> Response {
        try await self.change(.promote(id: try self.memberID(context)))
    }

    /// `POST /v1/members/{id}/demote` — 200 `{"index": N}` once the voter no longer votes.
    func demoteMember(_ request: Request, context: KVRequestContext) async throws -> Response {
        try await self.change(.demote(id: try self.memberID(context)))
    }

    /// Carries out `change` with the membership timeout and answers `{"index": N}`.
    private func change(_ change: MembershipChange) async throws -> Response {
        do {
            let index = try await self.node.changeMembership(change, timeout: self.membershipTimeout)
            return indexResponse(index)
        } catch {
            throw KVAPIError(membershipError: error, change: change, leader: self.leaderAddress)
        }
    }

    /// The `{id}` path segment: a positive integer, else 400.
    private func memberID(_ context: KVRequestContext) throws -> NodeID {
        guard let id = context.parameters.get("id", as: UInt64.self), id != 0 else {
            throw KVAPIError.badRequest("the member id must be a positive integer")
        }
        return id
    }
}
