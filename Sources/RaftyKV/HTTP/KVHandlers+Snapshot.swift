internal import Hummingbird
internal import NIOCore
internal import Rafty

extension KVHandlers {
    /// `GET /v1/snapshot` (an admin route) — the whole key-value state in the KV snapshot format
    /// (`KVStore+Snapshot`, checksummed), taken after a linearizable read: it holds every write
    /// acknowledged before the request; its header names its log index. 404 if the
    /// node's state machine is not a ``KVStore``; 503/504 like a read.
    func snapshot(_ request: Request, context: KVRequestContext) async throws -> Response {
        guard let store = self.node.stateMachine as? KVStore else {
            throw KVAPIError(.notFound, "not_found", "this node's state machine is not a KVStore")
        }
        do {
            _ = try await self.node.read(KVQuery.get(key: []).encoded(), consistency: .linearizable, timeout: self.timeout)
        } catch {
            throw KVAPIError(error, operation: .read, leader: self.leaderAddress)
        }
        // Produced as the client reads it (the response body waits for the connection), so a
        // state of any size is sent with a chunk in memory at a time.
        let chunks = store.snapshotChunks()
        return Response(
            status: .ok,
            headers: [.contentType: "application/octet-stream"],
            body: ResponseBody(contentLength: chunks.byteCount) { writer in
                for chunk in chunks { try await writer.write(ByteBuffer(bytes: chunk)) }
                try await writer.finish(nil)
            })
    }
}
