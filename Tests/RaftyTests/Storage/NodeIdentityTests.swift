import RaftCore
import RaftyTestSupport
import Testing

@testable import Rafty

#if canImport(Glibc)
    import Glibc
#endif

@Suite("NodeIdentity")
struct NodeIdentityTests {
    @Test("The cluster id depends on the token and the set of members, not their order, and is never 0")
    func clusterID() {
        let id = NodeIdentity.clusterID(token: "rafty", members: [1, 2, 3])
        #expect(id != 0)
        #expect(NodeIdentity.clusterID(token: "rafty", members: [3, 1, 2]) == id)
        #expect(NodeIdentity.clusterID(token: "other", members: [1, 2, 3]) != id)
        #expect(NodeIdentity.clusterID(token: "rafty", members: [1, 2, 4]) != id)
        #expect(NodeIdentity.clusterID(token: "rafty", members: [1, 2]) != id)
        // The token and the ids are separated: "a" + id 0x62… differs from "ab" + ….
        #expect(NodeIdentity.clusterID(token: "a", members: [0x62]) != NodeIdentity.clusterID(token: "ab", members: []))
    }

    @Test("A node without a cluster adopts the first peer's; then other clusters, and none, are refused")
    func clusters() {
        var identity = NodeIdentity(incarnation: 5)
        #expect(identity.admit(2, clusterID: 0, incarnation: 7) == nil)  // neither knows: accepted
        #expect(identity.clusterID == 0)
        #expect(identity.admit(2, clusterID: 0xabc, incarnation: 7) == nil)
        #expect(identity.clusterID == 0xabc)
        #expect(identity.admit(3, clusterID: 0xdef, incarnation: 8) == .otherCluster(ours: 0xabc, theirs: 0xdef))
        #expect(identity.admit(3, clusterID: 0, incarnation: 8) == .otherCluster(ours: 0xabc, theirs: 0))
        #expect(identity.peerIncarnations[3] == nil)  // nothing learned from a refused peer
        #expect(identity.admit(3, clusterID: 0xabc, incarnation: 8) == nil)
    }

    @Test("A peer's first incarnation is kept; another one is refused until the peer is forgotten")
    func incarnations() {
        var identity = NodeIdentity(clusterID: 1, incarnation: 5)
        #expect(identity.admit(2, clusterID: 1, incarnation: 7) == nil)
        #expect(identity.peerIncarnations == [2: 7])
        #expect(identity.admit(2, clusterID: 1, incarnation: 7) == nil)
        #expect(identity.admit(2, clusterID: 1, incarnation: 9) == .replacedData(2, known: 7, presented: 9))
        #expect(identity.admit(2, clusterID: 1, incarnation: 0) == .replacedData(2, known: 7, presented: 0))
        #expect(identity.peerIncarnations == [2: 7])
        #expect(identity.forget([3]) == false)
        #expect(identity.forget([2]) == true)
        #expect(identity.admit(2, clusterID: 1, incarnation: 9) == nil)
        #expect(identity.peerIncarnations == [2: 9])
        // A peer without incarnations (an older version) is accepted and not remembered.
        #expect(identity.admit(4, clusterID: 1, incarnation: 0) == nil)
        #expect(identity.peerIncarnations[4] == nil)
        #expect("\(NodeIdentity.Refusal.replacedData(2, known: 7, presented: 9))".contains("rafty members remove 2"))
    }

    @Test("A forgotten peer admitted without learning is not remembered: its fresh data, added again, is admitted")
    func unlearnedPeer() {
        var identity = NodeIdentity(clusterID: 1, incarnation: 5)
        #expect(identity.admit(2, clusterID: 1, incarnation: 7) == nil)
        identity.forget([2])
        // The removed member's old process is still sending: admitted, not learned again.
        #expect(identity.admit(2, clusterID: 1, incarnation: 7, learning: false) == nil)
        #expect(identity.peerIncarnations[2] == nil)
        // Wiped and added again, it presents a new incarnation: not refused (it was, learning the old one).
        #expect(identity.admit(2, clusterID: 1, incarnation: 8) == nil)
        #expect(identity.peerIncarnations == [2: 8])
        // A known peer is still refused with other data, learning or not.
        #expect(identity.admit(2, clusterID: 1, incarnation: 9, learning: false) == .replacedData(2, known: 8, presented: 9))
    }

    @Test("The configuration's record wins over what the node learned, even for a peer it never heard from")
    func recordedIncarnations() {
        var identity = NodeIdentity(clusterID: 1, incarnation: 5, peerIncarnations: [2: 8])
        let configuration = ClusterConfiguration(voters: [1, 2, 3], incarnations: [1: 5, 2: 7, 3: 30])
        let changed = identity.record(configuration, except: 1)
        #expect(changed)
        #expect(identity.peerIncarnations == [2: 7, 3: 30], "not this node's own")
        let again = identity.record(configuration, except: 1)
        #expect(!again)
        #expect(identity.admit(3, clusterID: 1, incarnation: 31) == .replacedData(3, known: 30, presented: 31))
        #expect(identity.admit(2, clusterID: 1, incarnation: 7) == nil)
    }

    @Test("A data directory keeps its identity across opens; a new directory gets a new incarnation")
    func persisted() throws {
        let directory = TemporaryDirectory("rafty-identity")
        defer { directory.remove() }
        let first = try NodeIdentityStore(directory: directory.path + "/a")
        let incarnation = first.identity.incarnation
        #expect(incarnation != 0)
        #expect(first.identity.clusterID == 0)
        try first.update { $0.clusterID = 42 }
        let refusal = try first.update { $0.admit(2, clusterID: 42, incarnation: 77) }
        #expect(refusal == nil)
        let reopened = try NodeIdentityStore(directory: directory.path + "/a")
        #expect(reopened.identity == NodeIdentity(clusterID: 42, incarnation: incarnation, peerIncarnations: [2: 77]))
        let other = try NodeIdentityStore(directory: directory.path + "/b")
        #expect(other.identity.incarnation != incarnation)
        #expect(NodeIdentityStore(inMemory: nil).identity.incarnation != NodeIdentityStore(inMemory: nil).identity.incarnation)
        // The file is private to its owner.
        var info = stat()
        #expect(stat(directory.path + "/a/identity", &info) == 0)
        #expect(info.st_mode & 0o077 == 0)
    }

    @Test("A damaged or truncated identity file is reported, never replaced by a new identity")
    func damaged() throws {
        let directory = TemporaryDirectory("rafty-identity")
        defer { directory.remove() }
        let store = try NodeIdentityStore(directory: directory.path)
        try store.update { _ = $0.admit(2, clusterID: 0, incarnation: 3) }
        let path = directory.path + "/identity"
        let intact = try StableStoreTests.read(path)
        for offset in [0, 4, 9, 20, 30, intact.count - 1] {
            var damaged = intact
            damaged[offset] ^= 0x40
            try StableStoreTests.write(damaged, to: path)
            StableStoreTests.expectError(.corrupted, path: path) { _ = try NodeIdentityStore(directory: directory.path) }
        }
        for length in [0, 10, intact.count - 1] {
            try StableStoreTests.write(Array(intact[..<length]), to: path)
            StableStoreTests.expectError(.corrupted, path: path) { _ = try NodeIdentityStore(directory: directory.path) }
        }
        // An intact file of a newer version.
        var newer = Array(intact[..<(intact.count - 4)])
        newer[4] = 9
        let crc = CRC32C.checksum(newer)
        for shift in stride(from: 0, to: 32, by: 8) { newer.append(UInt8(truncatingIfNeeded: crc >> UInt32(shift))) }
        try StableStoreTests.write(newer, to: path)
        StableStoreTests.expectError(.unsupportedVersion, path: path) { _ = try NodeIdentityStore(directory: directory.path) }
        // A crash before the rename leaves the old file and a stray temporary one.
        try StableStoreTests.write(intact, to: path)
        try StableStoreTests.write([1, 2, 3], to: path + ".tmp")
        let recovered = try NodeIdentityStore(directory: directory.path)
        #expect(recovered.identity == store.identity)
        #expect(access(path + ".tmp", F_OK) != 0)
    }
}
