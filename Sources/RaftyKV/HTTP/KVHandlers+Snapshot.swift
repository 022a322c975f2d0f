internal import Hummingbird
internal import NIOCore
internal import Rafty
internal import Synchronization

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
        // Held in memory while it is sent: as large as the state (streaming it is future work).
        let bytes = Mutex<[UInt8]>([])
        try await store.snapshot(to: SnapshotOutput { chunk in bytes.withLock { $0.append(contentsOf: chunk) } })
        let body = bytes.withLock { $0 }
        return Response(
            status: .ok,
            headers: [.contentType: "application/octet-stream"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
