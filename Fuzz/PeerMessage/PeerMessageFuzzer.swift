// libFuzzer target: a peer's bytes, decoded as the gRPC transport decodes them, stepped into a
// follower, a candidate and a leader. Built by scripts/fuzz.sh from RaftCore, SwiftProtobuf, the
// generated messages and RaftyGRPC's message conversions only.
import RaftCore
import SwiftProtobuf

/// Nodes 1–3 holding four entries (terms 1 and 2, three committed); node `id` in `role`.
func node(_ id: NodeID, leading: Bool, campaigning: Bool) -> RawNode {
    var configuration = RawNode.Configuration(id: id)
    configuration.randomSeed = 7
    let entries = [
        Entry(term: 1, index: 1, payload: .noop), Entry(term: 1, index: 2, payload: .command([1, 2, 3])),
        Entry(term: 2, index: 3, payload: .noop), Entry(term: 2, index: 4, payload: .command([4])),
    ]
    let state = RawNode.PersistentState(hardState: HardState(term: 2, vote: 1, commit: 3), entries: entries)
    var node = try! RawNode(configuration: configuration, membership: ClusterConfiguration(voters: [1, 2, 3]), restoring: state)
    guard leading || campaigning else { return node }
    node.campaign()
    // Grant every (pre-)vote the node asks for until it leads.
    for _ in 0..<4 where leading && node.role != .leader {
        let ready = node.ready()
        node.advance(ready)
        for message in ready.messages + ready.persistedMessages {
            switch message.body {
            case .preVote: node.step(RaftCore.Message(from: message.to, to: id, term: message.term, body: .preVoteResponse(granted: true)))
            case .vote: node.step(RaftCore.Message(from: message.to, to: id, term: message.term, body: .voteResponse(granted: true)))
            default: break
            }
        }
    }
    precondition(!leading || node.role == .leader, "the fuzz target's leader did not get elected")
    let ready = node.ready()
    node.advance(ready)
    return node
}

let nodes = [node(2, leading: false, campaigning: false), node(3, leading: false, campaigning: true), node(1, leading: true, campaigning: false)]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let proto = try? Rafty_V1_RaftMessage(serializedBytes: bytes), let message = try? RaftCore.Message(proto) else { return 0 }
    // The transport's encoding of a decoded message decodes to the same message.
    let encoded: [UInt8] = try! Rafty_V1_RaftMessage(message).serializedBytes()
    precondition(try! RaftCore.Message(Rafty_V1_RaftMessage(serializedBytes: encoded)) == message, "round trip changed \(message)")
    for original in nodes {
        var node = original
        for addressed in [message, RaftCore.Message(from: message.from, to: node.id, term: message.term, body: message.body)] {
            let before = (term: node.term, commit: node.commitIndex)
            node.step(addressed)
            let ready = node.ready()
            node.advance(ready)
            // Whatever a peer sends, terms and the commit index never go back, and nothing is
            // committed beyond the log.
            precondition(node.term >= before.term && node.commitIndex >= before.commit, "went back on \(addressed)")
            precondition(node.commitIndex <= node.lastIndex, "committed beyond the log on \(addressed)")
        }
    }
    return 0
}
