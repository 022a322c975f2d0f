internal import Hummingbird
internal import NIOCore
internal import Rafty

extension KVHandlers {
    /// `PUT /v1/kv/{key}` — a write; with `?prev=V` a compare-and-set; with `?prevExist=false`
    /// a create-if-absent. 409 on a failed comparison.
    func put(_ request: Request, context: KVRequestContext) async throws -> Response {
        let key = try self.key(context)
        let query = try self.query(request, allowed: ["prev", "prevExist"])
        var expectAbsent = false
        switch query["prevExist"].map({ String(decoding: $0, as: UTF8.self) }) {
        case nil: break
        case "false": expectAbsent = true
        case let other?:
            throw KVAPIError.badRequest("prevExist must be 'false' (create only if absent), got '\(other)'")
        }
        if expectAbsent && query["prev"] != nil {
            throw KVAPIError.badRequest("prev and prevExist=false cannot be combined")
        }
        let value = try await self.value(request)
        do {
            if let expected = query["prev"] {
                return try await self.compareAndSet(key, expected: expected, new: value)
            } else if expectAbsent {
                return try await self.compareAndSet(key, expected: nil, new: value)
            }
            return indexResponse(try await self.client.put(key, value: value, timeout: self.timeout))
        } catch let error as KVError {
            throw self.fail(error, .write)
        }
    }

    private func compareAndSet(_ key: [UInt8], expected: [UInt8]?, new: [UInt8]) async throws -> Response {
        switch try await self.client.compareAndSet(key, expected: expected, new: new, timeout: self.timeout) {
        case .swapped(let index):
            return indexResponse(index)
        case .conflict:
            let message =
                expected == nil
                ? "the key exists; not applied"
                : "the current value differs from prev or the key is absent; not applied (the current value is not returned)"
            throw KVAPIError(.conflict, "conflict", message, leader: self.leaderAddress)
        }
    }

    /// `GET /v1/kv/{key}?consistency=linearizable|lease|stale` — the raw value, or 404.
    func get(_ request: Request, context: KVRequestContext) async throws -> Response {
        let key = try self.key(context)
        let query = try self.query(request, allowed: ["consistency"])
        let consistency: RaftNode.ReadConsistency
        switch query["consistency"].map({ String(decoding: $0, as: UTF8.self) }) {
        case nil, "linearizable": consistency = .linearizable
        case "lease": consistency = .lease
        case "stale": consistency = .stale
        case let other?:
            throw KVAPIError.badRequest("consistency must be linearizable, lease or stale, got '\(other)'")
        }
        let value: [UInt8]?
        do {
            value = try await self.client.get(key, consistency: consistency, timeout: self.timeout)
        } catch {
            throw self.fail(error, .read)
        }
        guard let value else {
            throw KVAPIError(.notFound, "not_found", "the key does not exist", leader: self.leaderAddress)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/octet-stream"],
            body: .init(byteBuffer: ByteBuffer(bytes: value)))
    }

    /// `DELETE /v1/kv/{key}` — 200 `{"index": N, "deleted": Bool}`, also when the key was absent.
    func delete(_ request: Request, context: KVRequestContext) async throws -> Response {
        let key = try self.key(context)
        _ = try self.query(request, allowed: [])
        do {
            let (index, existed) = try await self.client.delete(key, timeout: self.timeout)
            return deleteResponse(index: index, deleted: existed)
        } catch {
            throw self.fail(error, .write)
        }
    }

    /// `/v1/kv/` without a key.
    func emptyKey(_ request: Request, context: KVRequestContext) async throws -> Response {
        throw KVAPIError(.badRequest, "invalid_key", "the key is empty")
    }
}
