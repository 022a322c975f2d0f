package import GRPCCore
internal import RaftCore
package import Rafty

/// Maps `RaftError` to gRPC statuses and back, so that a caller whose request was forwarded
/// sees the leader's error code.
///
/// The exact Rafty code travels in the `rafty-error-code` trailer (and the known leader in
/// `rafty-leader`); the gRPC status code is the closest standard one, for non-Rafty clients.
package enum RaftErrorMapping {
    /// Trailer key holding `RaftError/Code`'s name.
    package static let codeKey = "rafty-error-code"
    /// Trailer key holding the leader's node id, when known.
    package static let leaderKey = "rafty-leader"

    private static let allCodes = RaftError.Code.all

    /// The gRPC status code closest to a Rafty code.
    package static func statusCode(for code: RaftError.Code) -> RPCError.Code {
        switch code {
        case .invalidConfiguration: return .invalidArgument
        case .notLeader: return .failedPrecondition
        case .noLeader: return .unavailable
        case .timedOut: return .deadlineExceeded
        case .shuttingDown: return .unavailable
        case .alreadyRunning: return .failedPrecondition
        case .storage: return .internalError
        case .rejected: return .aborted
        case .unreachable: return .unavailable
        case .membershipChangeInProgress: return .failedPrecondition
        case .tooSlow: return .deadlineExceeded
        case .stateMachine: return .internalError
        case .overloaded: return .resourceExhausted
        default: return .unknown
        }
    }

    /// The gRPC error carrying `error`.
    package static func rpcError(_ error: RaftError) -> RPCError {
        var metadata: Metadata = [:]
        metadata.addString(error.code.description, forKey: Self.codeKey)
        if let leader = error.leader { metadata.addString(String(leader), forKey: Self.leaderKey) }
        return RPCError(code: Self.statusCode(for: error.code), message: error.message, metadata: metadata)
    }

    /// The Rafty error a gRPC error stands for: the code from the trailer when present, else the
    /// closest code for a transport-level failure (unavailable → `RaftError/Code/unreachable`,
    /// deadline exceeded → `RaftError/Code/timedOut`, …).
    package static func raftError(_ error: RPCError, address: String) -> RaftError {
        let leader = error.metadata[stringValues: Self.leaderKey].first { _ in true }.flatMap { NodeID($0) }
        if let name = error.metadata[stringValues: Self.codeKey].first(where: { _ in true }),
            let code = Self.allCodes.first(where: { $0.description == name })
        {
            return RaftError(code, error.message, leader: leader)
        }
        switch error.code {
        case .deadlineExceeded:
            return RaftError(.timedOut, "no answer from \(address) before the deadline: \(error.message)", cause: error)
        case .cancelled:
            return RaftError(.shuttingDown, "the call to \(address) was cancelled: \(error.message)", cause: error)
        case .unavailable, .unknown:
            return RaftError(.unreachable, "\(address) is unreachable: \(error.message)", cause: error)
        default:
            return RaftError(.rejected, "\(address) answered \(error.code): \(error.message)", cause: error)
        }
    }

    /// The Rafty error for any error thrown by a call to `address`.
    package static func raftError(_ error: any Error, address: String) -> RaftError {
        if let error = error as? RaftError { return error }
        if let error = error as? RPCError { return Self.raftError(error, address: address) }
        if let error = error as? any RPCErrorConvertible { return Self.raftError(RPCError(error), address: address) }
        if error is CancellationError { return RaftError(.shuttingDown, "the call to \(address) was cancelled") }
        return RaftError(.unreachable, "\(address): \(error)", cause: error)
    }
}
