internal import Foundation
internal import RaftCore
package import Rafty
internal import SwiftProtobuf

// MARK: - Forwarded requests

extension Rafty_V1_ForwardRequest {
    /// The protobuf form of a forwarded request.
    package init(_ request: ForwardedRequest, timeout: Duration) {
        self.init()
        switch request {
        case .submit(let command): self.submit = Data(command)
        case .read(let query): self.read = Data(query)
        case .transferLeadership(let target): self.transferLeadership = .with { $0.to = target ?? 0 }
        case .membership(let change):
            self.membershipChange = .with { proto in
                proto.id = change.node
                switch change {
                case .add(_, let address, let asVoter):
                    proto.kind = .add
                    proto.address = address
                    proto.voter = asVoter
                case .remove: proto.kind = .remove
                case .promote: proto.kind = .promote
                case .demote: proto.kind = .demote
                }
            }
        }
        let (seconds, attoseconds) = timeout.components
        self.timeoutMicros = UInt64(clamping: max(0, seconds) * 1_000_000 + max(0, attoseconds) / 1_000_000_000_000)
    }
}

extension ForwardedRequest {
    /// The forwarded request a protobuf message describes.
    package init(_ proto: Rafty_V1_ForwardRequest) throws(MalformedMessage) {
        switch proto.request {
        case .none: throw MalformedMessage("ForwardRequest names no request")
        case .submit(let data)?: self = .submit([UInt8](data))
        case .read(let data)?: self = .read([UInt8](data))
        case .transferLeadership(let transfer)?: self = .transferLeadership(to: transfer.to == 0 ? nil : transfer.to)
        case .membershipChange(let change)?:
            switch change.kind {
            case .add: self = .membership(.add(id: change.id, address: change.address, asVoter: change.voter))
            case .remove: self = .membership(.remove(id: change.id))
            case .promote: self = .membership(.promote(id: change.id))
            case .demote: self = .membership(.demote(id: change.id))
            case .UNRECOGNIZED(let value): throw MalformedMessage("unknown membership change kind \(value)")
            }
        }
    }
}

// MARK: - Forwarded answers

extension Rafty_V1_ForwardResponse {
    /// The protobuf form of a leader's answer.
    package init(_ answer: ForwardedAnswer) {
        self.init()
        switch answer {
        case .result(let result): self.result = Data(result)
        case .leader(let id): self.leader = id
        case .configurationIndex(let index): self.configurationIndex = index
        case .redirect(let address): self.redirect = address
        }
    }
}

extension ForwardedAnswer {
    /// The answer a protobuf message carries.
    package init(_ proto: Rafty_V1_ForwardResponse) throws(MalformedMessage) {
        switch proto.answer {
        case .none: throw MalformedMessage("ForwardResponse carries no answer")
        case .result(let data)?: self = .result([UInt8](data))
        case .leader(let id)?:
            guard id != 0 else { throw MalformedMessage("ForwardResponse names leader 0") }
            self = .leader(id)
        case .configurationIndex(let index)?: self = .configurationIndex(index)
        case .redirect(let address)?:
            guard !address.isEmpty else { throw MalformedMessage("ForwardResponse redirects to no address") }
            self = .redirect(to: address)
        }
    }
}
