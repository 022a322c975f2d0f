internal import Foundation
package import RaftCore
internal import SwiftProtobuf

/// A protobuf message that does not describe a valid Rafty value (a missing `oneof`, for example).
package struct MalformedMessage: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    package var description: String

    /// Creates the error.
    package init(_ description: String) { self.description = description }
}

// MARK: - Message ⇄ Rafty_V1_RaftMessage

extension Rafty_V1_RaftMessage {
    /// The protobuf form of a Raft message.
    package init(_ message: RaftCore.Message) {
        self.init()
        self.from = message.from
        self.to = message.to
        self.term = message.term
        switch message.body {
        case .preVote(let request): self.preVote = .init(request)
        case .preVoteResponse(let granted): self.preVoteResponse = .with { $0.granted = granted }
        case .vote(let request): self.vote = .init(request)
        case .voteResponse(let granted): self.voteResponse = .with { $0.granted = granted }
        case .append(let request): self.append = .init(request)
        case .appendResponse(let response):
            self.appendResponse = .with {
                $0.index = response.index
                $0.rejected = response.rejected
                $0.hintIndex = response.hintIndex
                $0.hintTerm = response.hintTerm
            }
        case .heartbeat(let heartbeat):
            self.heartbeat = .with {
                $0.commit = heartbeat.commit
                $0.round = heartbeat.round
                $0.sentTick = heartbeat.sentTick
            }
        case .heartbeatResponse(let response):
            self.heartbeatResponse = .with {
                $0.round = response.round
                $0.sentTick = response.sentTick
            }
        case .installSnapshot(let metadata): self.installSnapshot = .init(metadata)
        case .timeoutNow: self.timeoutNow = .init()
        case .readIndex(let context): self.readIndex = .with { $0.context = context }
        case .readIndexResponse(let context, let index):
            self.readIndexResponse = .with {
                $0.context = context
                $0.index = index
            }
        case .forwardedProposals(let batch):
            self.forwardedProposals = .with {
                $0.context = batch.context
                $0.commands = batch.commands.map { Data($0) }
            }
        case .forwardedProposalsResponse(let response):
            self.forwardedProposalsResponse = .with {
                $0.context = response.context
                $0.firstIndex = response.firstIndex
                $0.term = response.term
                $0.accepted = UInt32(clamping: response.accepted)
                $0.refusal = UInt32(response.refusal?.rawValue ?? 0)
            }
        }
    }
}

extension RaftCore.Message {
    /// The Raft message a protobuf message describes.
    ///
    /// - Throws: ``MalformedMessage`` when the body (or an entry's payload) is missing.
    package init(_ proto: Rafty_V1_RaftMessage) throws(MalformedMessage) {
        let body: Body
        switch proto.body {
        case .none: throw MalformedMessage("RaftMessage has no body")
        case .preVote(let request)?: body = .preVote(VoteRequest(request))
        case .preVoteResponse(let response)?: body = .preVoteResponse(granted: response.granted)
        case .vote(let request)?: body = .vote(VoteRequest(request))
        case .voteResponse(let response)?: body = .voteResponse(granted: response.granted)
        case .append(let request)?: body = .append(try AppendRequest(request))
        case .appendResponse(let response)?:
            body = .appendResponse(
                AppendResponse(
                    index: response.index, rejected: response.rejected, hintIndex: response.hintIndex,
                    hintTerm: response.hintTerm))
        case .heartbeat(let heartbeat)?:
            body = .heartbeat(Heartbeat(commit: heartbeat.commit, round: heartbeat.round, sentTick: heartbeat.sentTick))
        case .heartbeatResponse(let response)?:
            body = .heartbeatResponse(HeartbeatResponse(round: response.round, sentTick: response.sentTick))
        case .installSnapshot(let metadata)?: body = .installSnapshot(SnapshotMetadata(metadata))
        case .timeoutNow?: body = .timeoutNow
        case .readIndex(let request)?: body = .readIndex(context: request.context)
        case .readIndexResponse(let response)?: body = .readIndexResponse(context: response.context, index: response.index)
        case .forwardedProposals(let batch)?:
            body = .forwardedProposals(ForwardedProposals(context: batch.context, commands: batch.commands.map { Array($0) }))
        case .forwardedProposalsResponse(let response)?:
            var refusal: ForwardedProposalsResponse.Refusal?
            if response.refusal != 0 {
                guard let known = UInt8(exactly: response.refusal).flatMap(ForwardedProposalsResponse.Refusal.init(rawValue:)) else {
                    throw MalformedMessage("ForwardedProposalsResponse has an unknown refusal \(response.refusal)")
                }
                refusal = known
            }
            body = .forwardedProposalsResponse(
                ForwardedProposalsResponse(
                    context: response.context, firstIndex: response.firstIndex, term: response.term,
                    accepted: Int(response.accepted), refusal: refusal))
        }
        self.init(from: proto.from, to: proto.to, term: proto.term, body: body)
    }
}

// MARK: - Parts

extension Rafty_V1_VoteRequest {
    init(_ request: VoteRequest) {
        self.init()
        self.lastLogIndex = request.lastLogIndex
        self.lastLogTerm = request.lastLogTerm
        self.isTransfer = request.isTransfer
    }
}

extension VoteRequest {
    init(_ proto: Rafty_V1_VoteRequest) {
        self.init(lastLogIndex: proto.lastLogIndex, lastLogTerm: proto.lastLogTerm, isTransfer: proto.isTransfer)
    }
}

extension Rafty_V1_AppendRequest {
    init(_ request: AppendRequest) {
        self.init()
        self.prevLogIndex = request.prevLogIndex
        self.prevLogTerm = request.prevLogTerm
        self.commit = request.commit
        self.entries = request.entries.map(Rafty_V1_Entry.init)
    }
}

extension AppendRequest {
    init(_ proto: Rafty_V1_AppendRequest) throws(MalformedMessage) {
        var entries: [Entry] = []
        entries.reserveCapacity(proto.entries.count)
        for entry in proto.entries { entries.append(try Entry(entry)) }
        self.init(prevLogIndex: proto.prevLogIndex, prevLogTerm: proto.prevLogTerm, entries: entries, commit: proto.commit)
    }
}

extension Rafty_V1_Entry {
    init(_ entry: Entry) {
        self.init()
        self.term = entry.term
        self.index = entry.index
        switch entry.payload {
        case .command(let bytes): self.command = Data(bytes)
        case .noop: self.noop = .init()
        case .configuration(let configuration): self.configuration = .init(configuration)
        case .evictedCommand:
            // Never sent: the node reads evicted commands back before sending (Message.hydrating).
            // Left without a payload, the receiver refuses it as malformed instead of taking a
            // wrong command.
            break
        }
    }
}

extension Entry {
    init(_ proto: Rafty_V1_Entry) throws(MalformedMessage) {
        let payload: Payload
        switch proto.payload {
        case .none: throw MalformedMessage("entry \(proto.index) has no payload")
        case .command(let data)?: payload = .command([UInt8](data))
        case .noop?: payload = .noop
        case .configuration(let configuration)?: payload = .configuration(ClusterConfiguration(configuration))
        }
        self.init(term: proto.term, index: proto.index, payload: payload)
    }
}

extension Rafty_V1_ClusterConfiguration {
    init(_ configuration: ClusterConfiguration) {
        self.init()
        self.voters = configuration.voters.sorted()
        self.learners = configuration.learners.sorted()
        self.addresses = configuration.addresses
        self.incarnations = configuration.incarnations
    }
}

extension ClusterConfiguration {
    init(_ proto: Rafty_V1_ClusterConfiguration) {
        self.init(voters: Set(proto.voters), learners: Set(proto.learners), addresses: proto.addresses, incarnations: proto.incarnations)
    }
}

extension Rafty_V1_SnapshotMetadata {
    init(_ metadata: SnapshotMetadata) {
        self.init()
        self.index = metadata.index
        self.term = metadata.term
        self.configuration = .init(metadata.configuration)
    }
}

extension SnapshotMetadata {
    init(_ proto: Rafty_V1_SnapshotMetadata) {
        self.init(index: proto.index, term: proto.term, configuration: ClusterConfiguration(proto.configuration))
    }
}
