internal import Foundation
internal import GRPCCore
internal import GRPCNIOTransportHTTP2
internal import Metrics
internal import RaftCore
internal import Rafty
internal import SwiftProtobuf

/// The server side of `rafty.v1.RaftPeer`: hands inbound messages and requests to a node.
struct RaftPeerService: Rafty_V1_RaftPeer.SimpleServiceProtocol {
    let handler: any RaftTransportHandler
    let configuration: GRPCTransport.Configuration
    /// Messages dropped because their `from` is not the node of the certificate they came under.
    let spoofed: Counter
    /// Streams refused because the sender belongs to another cluster or lost its data.
    let refused: Counter
    let log: RateLimitedLogger

    init(handler: any RaftTransportHandler, configuration: GRPCTransport.Configuration) {
        self.handler = handler
        self.configuration = configuration
        self.log = RateLimitedLogger(configuration.logger)
        self.spoofed = Counter(label: "rafty.transport.spoofed_messages", dimensions: [("raft.node_id", "\(handler.nodeID)")])
        self.refused = Counter(label: "rafty.transport.refused_peers", dimensions: [("raft.node_id", "\(handler.nodeID)")])
    }

    /// Asks the node whether it accepts messages from the sender of `message` (its cluster, its
    /// data's incarnation); throws `permissionDenied` with the reason if not, which ends the stream.
    func admit(_ message: Rafty_V1_RaftMessage, _ context: ServerContext) throws {
        let credentials = PeerCredentials(clusterID: message.clusterID, incarnation: message.incarnation)
        guard let reason = self.handler.admit(message.from, presenting: credentials) else { return }
        self.refused.increment()
        self.log.warning("refused", "refused node \(message.from) (\(context.remotePeer)): \(reason)")
        throw RPCError(code: .permissionDenied, message: reason)
    }

    /// The node id of the peer's certificate, with peer TLS on (nil: plaintext, anyone is a peer).
    /// The TLS handshake already refused certificates the CA did not sign.
    func authenticatedPeer(_ context: ServerContext) throws -> NodeID? {
        guard self.configuration.tls != nil else { return nil }
        guard let posix = context.transportSpecific as? HTTP2ServerTransport.Posix.Context, let certificate = posix.peerCertificate,
            let id = PeerIdentity.nodeID(of: certificate)
        else {
            self.log.warning("unauthenticated", "refused a peer whose certificate names no node (\(context.remotePeer))")
            throw RPCError(code: .unauthenticated, message: "a peer certificate naming a node (\(PeerIdentity.uriPrefix)<id>) is required")
        }
        return id
    }

    func askNodeID(request: Rafty_V1_AskNodeIDRequest, context: ServerContext) async throws -> Rafty_V1_AskNodeIDResponse {
        _ = try self.authenticatedPeer(context)
        let info = self.handler.peerInfo
        return .with {
            $0.id = info.id
            $0.isVoter = info.isVoter
            $0.clusterID = info.credentials.clusterID
            $0.incarnation = info.credentials.incarnation
        }
    }

    func getLeader(request: Rafty_V1_GetLeaderRequest, context: ServerContext) async throws -> Rafty_V1_GetLeaderResponse {
        _ = try self.authenticatedPeer(context)
        let leader = self.handler.knownLeader
        let term = self.handler.status?.term ?? 0
        return .with {
            $0.leaderID = leader?.id ?? 0
            $0.leaderAddress = leader?.address ?? ""
            $0.term = term
        }
    }

    func health(request: Rafty_V1_HealthRequest, context: ServerContext) async throws -> Rafty_V1_HealthResponse {
        _ = try self.authenticatedPeer(context)
        guard let status = self.handler.status else {
            return .with {
                $0.id = self.handler.nodeID
                $0.state = "serving"
            }
        }
        let node = self.handler
        return .with {
            $0.id = status.id
            $0.state = status.state.rawValue
            $0.term = status.term
            $0.commitIndex = status.commitIndex
            $0.lastApplied = status.lastApplied
            $0.leaderID = status.leaderID ?? 0
            $0.committedMembers = node.committedMembership?.members.sorted() ?? []
            $0.clusterID = node.peerCredentials.clusterID
        }
    }

    func exchange(
        request: RPCAsyncSequence<Rafty_V1_RaftMessage, any Error>, response: RPCWriter<Rafty_V1_ExchangeAck>,
        context: ServerContext
    ) async throws {
        let peer = try self.authenticatedPeer(context)
        var received: UInt64 = 0
        // The sender and credentials admitted on this stream (asked again only if they change).
        var admitted: (from: NodeID, clusterID: UInt64, incarnation: UInt64)?
        for try await proto in request {
            let message: RaftCore.Message
            do {
                message = try RaftCore.Message(proto)
            } catch {
                self.log.warning("malformed", "dropped the stream of \(context.remotePeer): malformed Raft message: \(error)")
                throw RPCError(code: .invalidArgument, message: "malformed Raft message: \(error)")
            }
            received += 1
            if let peer, message.from != peer {
                self.spoofed.increment()
                self.log.warning("spoofed", "dropped a message from node \(message.from) sent with node \(peer)'s certificate (\(context.remotePeer))")
                continue
            }
            if admitted?.from != proto.from || admitted?.clusterID != proto.clusterID || admitted?.incarnation != proto.incarnation {
                try self.admit(proto, context)
                admitted = (proto.from, proto.clusterID, proto.incarnation)
            }
            await self.handler.awaitCapacity()
            await self.handler.receive(message, snapshot: nil)
        }
        try await response.write(.with { $0.received = received })
    }

    func forward(request: Rafty_V1_ForwardRequest, context: ServerContext) async throws -> Rafty_V1_ForwardResponse {
        _ = try self.authenticatedPeer(context)
        let ours = self.handler.peerCredentials.clusterID
        if ours != 0, request.clusterID != 0, request.clusterID != ours {
            let reason = NodeIdentity.Refusal.otherCluster(ours: ours, theirs: request.clusterID).description
            self.refused.increment()
            self.log.warning("refused", "refused a forwarded request (\(context.remotePeer)): \(reason)")
            throw RPCError(code: .permissionDenied, message: reason)
        }
        let forwarded: ForwardedRequest
        do {
            forwarded = try ForwardedRequest(request)
        } catch {
            throw RPCError(code: .invalidArgument, message: "\(error)")
        }
        let timeout = request.timeoutMicros == 0 ? Duration.seconds(5) : .microseconds(Int64(clamping: request.timeoutMicros))
        do {
            return Rafty_V1_ForwardResponse(try await self.handler.handleForwarded(forwarded, timeout: timeout))
        } catch {
            throw RaftErrorMapping.rpcError(error)
        }
    }

    func installSnapshot(
        request: RPCAsyncSequence<Rafty_V1_SnapshotChunk, any Error>, context: ServerContext
    ) async throws -> Rafty_V1_InstallSnapshotResponse {
        // Chunks are written to files as they arrive: not on the event loop the transport's
        // handlers may prefer, where the writes would hold up every peer's messages.
        try await withTaskExecutorPreference(globalConcurrentExecutor) {
            try await self.receiveSnapshot(request: request, context: context)
        }
    }

    private func receiveSnapshot(
        request: RPCAsyncSequence<Rafty_V1_SnapshotChunk, any Error>, context: ServerContext
    ) async throws -> Rafty_V1_InstallSnapshotResponse {
        let peer = try self.authenticatedPeer(context)
        var message: RaftCore.Message?
        var metadata: SnapshotMetadata?
        // Written to the node's snapshot store as it arrives when the node offers a writer (a
        // snapshot of any size then never sits in memory); else collected here. A writer left
        // behind by an error below is discarded with it.
        var writer: (any SnapshotWriter)?
        var bytes: [UInt8] = []
        var received = 0
        var total = 0
        var finished = false
        var crc = CRC32C()
        for try await chunk in request {
            guard !finished else { throw RPCError(code: .invalidArgument, message: "chunk after the last one") }
            if message == nil {
                guard chunk.hasMessage, chunk.offset == 0 else {
                    throw RPCError(code: .invalidArgument, message: "the first chunk must carry the message at offset 0")
                }
                let first: RaftCore.Message
                do {
                    first = try RaftCore.Message(chunk.message)
                } catch {
                    throw RPCError(code: .invalidArgument, message: "malformed Raft message: \(error)")
                }
                guard case .installSnapshot(let described) = first.body else {
                    throw RPCError(code: .invalidArgument, message: "the first chunk's message is not InstallSnapshot")
                }
                if let peer, first.from != peer {
                    self.spoofed.increment()
                    throw RPCError(code: .permissionDenied, message: "a snapshot from node \(first.from) sent with node \(peer)'s certificate")
                }
                try self.admit(chunk.message, context)
                guard chunk.totalSize <= UInt64(self.configuration.maxSnapshotBytes) else {
                    throw RPCError(code: .resourceExhausted, message: "snapshot of \(chunk.totalSize) bytes is too large")
                }
                message = first
                metadata = described
                total = Int(chunk.totalSize)
                writer = self.handler.makeSnapshotWriter(for: described)
                if writer == nil { bytes.reserveCapacity(min(total, 64 << 20)) }  // the peer's claim is not trusted
            }
            guard chunk.offset == UInt64(received), received + chunk.data.count <= total else {
                throw RPCError(code: .invalidArgument, message: "chunk at offset \(chunk.offset) does not continue the snapshot")
            }
            let data = chunk.data.withUnsafeBytes { raw in
                let buffer = raw.bindMemory(to: UInt8.self)
                crc.update(buffer)
                return Array(buffer)
            }
            received += data.count
            if let writer {
                do {
                    try writer.write(data)
                } catch {
                    throw RPCError(code: .unavailable, message: "cannot store the snapshot: \(error)")
                }
            } else {
                bytes.append(contentsOf: data)
            }
            if chunk.last {
                finished = true
                guard received == total else {
                    throw RPCError(code: .dataLoss, message: "snapshot ended at \(received) of \(total) bytes")
                }
                guard crc.value == chunk.crc32C else {
                    throw RPCError(code: .dataLoss, message: "snapshot checksum mismatch")
                }
            }
        }
        guard let message, let metadata, finished else {
            throw RPCError(code: .invalidArgument, message: "the snapshot stream ended before its last chunk")
        }
        if let writer {
            await self.handler.receive(message, spooled: SpooledSnapshot(metadata: metadata, size: received, writer: writer))
        } else {
            await self.handler.receive(message, snapshot: bytes)
        }
        return .with { $0.receivedBytes = UInt64(received) }
    }
}
