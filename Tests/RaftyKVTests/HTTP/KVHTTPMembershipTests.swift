import HTTPTypes
import Hummingbird
import RaftCore
import Rafty
import RaftyKV
import RaftyTestSupport
import Testing

@Suite("KV HTTP API: membership changes", .timeLimit(.minutes(1)))
struct KVHTTPMembershipTests {
    static let json: HTTPFields = [.contentType: "application/json"]

    /// Starts nodes 1...3 as a cluster of three (peers: each other only).
    func startThree(_ cluster: KVTestCluster, in group: inout ThrowingDiscardingTaskGroup<any Error>) throws {
        for id in UInt64(1)...3 {
            try cluster.start(id, in: &group) { configuration in
                configuration.peers = (UInt64(1)...3).filter { $0 != id }.map(cluster.address)
                configuration.memberCatchUpTimeout = .seconds(2)
            }
        }
    }

    /// Starts `id` as a joining node that knows only node 1.
    func startJoiner(_ id: NodeID, _ cluster: KVTestCluster, in group: inout ThrowingDiscardingTaskGroup<any Error>) throws {
        try cluster.start(id, in: &group) { configuration in
            configuration.startMode = .join
            configuration.peers = [cluster.address(1)]
        }
    }

    func addBody(_ id: NodeID, _ address: String, voter: Bool?) -> [UInt8] {
        let voterField = voter.map { ", \"voter\": \($0)" } ?? ""
        return Array("{\"id\": \(id), \"address\": \"\(address)\"\(voterField)}".utf8)
    }

    func expectError(
        _ answer: HTTPAnswer, _ status: HTTPResponse.Status, _ code: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        #expect(answer.status == status, "\(answer.text)", sourceLocation: sourceLocation)
        #expect(try answer.errorCode() == code, "\(answer.text)", sourceLocation: sourceLocation)
    }

    func index(_ answer: HTTPAnswer, sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        #expect(answer.status == .ok, "\(answer.text)", sourceLocation: sourceLocation)
        return try #require(try answer.json()["index"] as? Int, "\(answer.text)", sourceLocation: sourceLocation)
    }

    @Test("Joining nodes are added over HTTP (voter by default, or as a read-only member), promoted, demoted and removed; asked of followers")
    func addPromoteDemoteRemove() async throws {
        let cluster = KVTestCluster(size: 5)
        try await withThrowingDiscardingTaskGroup { group in
            try self.startThree(cluster, in: &group)
            try self.startJoiner(4, cluster, in: &group)
            try self.startJoiner(5, cluster, in: &group)
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            #expect(try await cluster.request(leader, .put, "/v1/kv/before", body: Array("1".utf8)).status == .ok)
            try await eventually("the follower knows the leader") { cluster.node(follower).status.leaderID == leader }

            // Node 4: the default is a voter.
            let added = try self.index(
                try await cluster.request(follower, .post, "/v1/members", body: self.addBody(4, cluster.address(4), voter: nil), headers: Self.json))
            #expect(cluster.node(leader).status.roles[4] == true)
            try await eventually("node 4 knows it is a member") { cluster.node(4).status.isMember }
            #expect(try await cluster.request(4, .put, "/v1/kv/via4", body: Array("4".utf8)).status == .ok)
            #expect(try await cluster.request(4, .get, "/v1/kv/before").text == "1")

            // Node 5: a read-only member, then promoted, demoted, removed — each asked of a different node.
            let learner = try self.index(
                try await cluster.request(4, .post, "/v1/members", body: self.addBody(5, cluster.address(5), voter: false), headers: Self.json))
            #expect(learner > added)
            #expect(cluster.node(leader).status.roles[5] == false)
            try await eventually("the follower lists node 5 as a read-only member") {
                let members = try await cluster.request(follower, .get, "/v1/members").json()["members"] as? [[String: Any]] ?? []
                return members.count == 5 && members.last?["id"] as? Int == 5 && members.last?["voter"] as? Bool == false
            }

            let promoted = try self.index(try await cluster.request(follower, .post, "/v1/members/5/promote"))
            #expect(promoted > learner)
            #expect(cluster.node(leader).status.roles[5] == true)
            let demoted = try self.index(try await cluster.request(5, .post, "/v1/members/5/demote"))
            #expect(demoted > promoted)
            #expect(cluster.node(leader).status.roles[5] == false)
            let removed = try self.index(try await cluster.request(leader, .delete, "/v1/members/5"))
            #expect(removed > demoted)
            #expect(cluster.node(leader).status.roles[5] == nil)

            // Removing a voter (node 4) demotes it first; the list shows the three original voters.
            _ = try self.index(try await cluster.request(follower, .delete, "/v1/members/4"))
            let members = try #require(try await cluster.request(leader, .get, "/v1/members").json()["members"] as? [[String: Any]])
            #expect(members.map { $0["id"] as? Int } == [1, 2, 3])
            #expect(members.allSatisfy { $0["voter"] as? Bool == true })
            #expect(try await cluster.request(follower, .put, "/v1/kv/after", body: Array("2".utf8)).status == .ok)

            try await cluster.stopAll()
            group.cancelAll()
        }
    }

    @Test("Errors: 400 invalid_member_change / bad_request, 409 conflict, membership_change_in_progress, too_slow, 503 after stop")
    func errors() async throws {
        let cluster = KVTestCluster(size: 5)
        cluster.setIsolated(5, true)  // node 5 is never started and never answers
        try await withThrowingDiscardingTaskGroup { group in
            try self.startThree(cluster, in: &group)
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            let other = follower % 3 + 1
            try await eventually("the followers know the leader") {
                [follower, other].allSatisfy { cluster.node($0).status.leaderID == leader }
            }

            // Malformed input the server detects itself: 400.
            let post = { (body: String) in try await cluster.request(follower, .post, "/v1/members", body: Array(body.utf8), headers: Self.json) }
            try self.expectError(try await post(#"{"id": 0, "address": "10.0.0.9:50051"}"#), .badRequest, "invalid_member_change")
            try self.expectError(try await post(#"{"id": 9, "address": ""}"#), .badRequest, "invalid_member_change")
            try self.expectError(try await post(#"{"id": 9, "address": "10.0.0.9:99999"}"#), .badRequest, "invalid_member_change")
            try self.expectError(try await post(#"{"id": 9, "address": "a:b:c"}"#), .badRequest, "invalid_member_change")
            try self.expectError(
                try await cluster.request(follower, .post, "/v1/members"), .badRequest, "invalid_member_change")
            try self.expectError(try await post(#"{"id": 9}"#), .badRequest, "bad_request")
            try self.expectError(try await post(#"{"id": -1, "address": "10.0.0.9"}"#), .badRequest, "bad_request")
            try self.expectError(try await post("{not json"), .badRequest, "bad_request")
            try self.expectError(try await cluster.request(follower, .delete, "/v1/members/0"), .badRequest, "bad_request")
            try self.expectError(try await cluster.request(follower, .post, "/v1/members/x/promote"), .badRequest, "bad_request")

            // Changes the cluster refuses: 409 conflict, nothing applied.
            let already = try await post(#"{"id": \#(other), "address": "10.0.0.9:50051"}"#)
            try self.expectError(already, .conflict, "conflict")
            #expect(already.text.contains("already a member"), "\(already.text)")
            try self.expectError(try await cluster.request(follower, .delete, "/v1/members/9"), .conflict, "conflict")
            try self.expectError(try await cluster.request(follower, .post, "/v1/members/\(other)/promote"), .conflict, "conflict")
            try self.expectError(try await cluster.request(follower, .post, "/v1/members/9/demote"), .conflict, "conflict")
            #expect(cluster.node(leader).status.roles == [1: true, 2: true, 3: true])

            // Node 5 cannot catch up: while its addition runs another change is refused; then too_slow.
            async let slow = cluster.request(follower, .post, "/v1/members", body: self.addBody(5, cluster.address(5), voter: true), headers: Self.json)
            try await eventually("node 5 was added as a read-only member") { cluster.node(leader).status.roles[5] == false }
            let busy = try await cluster.request(other, .post, "/v1/members", body: self.addBody(4, cluster.address(4), voter: false), headers: Self.json)
            try self.expectError(busy, .conflict, "membership_change_in_progress")
            let tooSlow = try await slow
            try self.expectError(tooSlow, .conflict, "too_slow")
            #expect(tooSlow.text.contains("added as a read-only member"), "\(tooSlow.text)")
            #expect(cluster.node(leader).status.roles[5] == false, "it stays a read-only member")
            #expect(cluster.node(leader).status.roles[4] == nil, "the refused change was not applied")

            // With `other` cut off, demoting `follower` would leave one reachable voter of two: 409.
            cluster.setIsolated(other, true)
            let window = cluster.node(leader).configuration.tickInterval * 20  // two election timeouts
            try await eventually("the leader has not heard from node \(other) for two election timeouts") {
                guard let contact = cluster.node(leader).status.member(other)?.lastContact else { return false }
                return ContinuousClock.now - contact > window
            }
            let noQuorum = try await cluster.request(leader, .post, "/v1/members/\(follower)/demote")
            try self.expectError(noQuorum, .conflict, "conflict")
            #expect(noQuorum.text.contains("reachable"), "\(noQuorum.text)")
            #expect(cluster.node(leader).status.roles[follower] == true)
            cluster.setIsolated(other, false)

            // A stopped node answers 503: not applied.
            await cluster.node(follower).stop()
            let stopped = try await cluster.request(follower, .delete, "/v1/members/5")
            #expect(stopped.status == .serviceUnavailable, "\(stopped.text)")
            #expect(cluster.node(leader).status.roles[5] == false)

            try await cluster.stopAll()
            group.cancelAll()
        }
    }

    @Test("A change still running at the membership timeout answers 504: outcome unknown")
    func timedOut() async throws {
        let cluster = KVTestCluster(size: 4, membershipTimeout: .milliseconds(500))
        cluster.setIsolated(4, true)  // node 4 never catches up
        try await withThrowingDiscardingTaskGroup { group in
            try self.startThree(cluster, in: &group)
            let leader = try await cluster.leader()
            let answer = try await cluster.request(
                leader, .post, "/v1/members", body: self.addBody(4, cluster.address(4), voter: true), headers: Self.json)
            try self.expectError(answer, .gatewayTimeout, "timed_out")
            #expect(answer.text.contains("unknown"), "\(answer.text)")
            #expect(cluster.node(leader).status.roles[4] == false, "added as a read-only member, never promoted")

            try await cluster.stopAll()
            group.cancelAll()
        }
    }

    @Test("POST /v1/bootstrap forms the cluster once on nodes started to wait for it; a second bootstrap is 409")
    func bootstrap() async throws {
        let cluster = KVTestCluster(size: 3)
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) { $0.startMode = .awaitBootstrap } }
            #expect(try await cluster.request(1, .get, "/ready").status == .serviceUnavailable, "no cluster yet")
            var first: HTTPAnswer?
            // 503 until node 1 knows its peers' ids (then nothing was bootstrapped, so it may retry).
            try await eventually("node 1 bootstraps") {
                first = try await cluster.request(1, .post, "/v1/bootstrap")
                return first!.status != .serviceUnavailable
            }
            let answer = first!
            #expect(answer.status == .ok, "\(answer.text)")
            #expect(answer.text.contains("\"members\""), "\(answer.text)")
            try self.expectError(try await cluster.request(1, .post, "/v1/bootstrap"), .conflict, "conflict")
            try await eventually("node 3 knows the leader") { cluster.node(3).status.leaderID == 1 }
            try self.expectError(try await cluster.request(3, .post, "/v1/bootstrap"), .conflict, "conflict")
            #expect(try await cluster.request(2, .put, "/v1/kv/k", body: Array("v".utf8)).status == .ok)
            try await cluster.stopAll()
            group.cancelAll()
        }
    }
}
