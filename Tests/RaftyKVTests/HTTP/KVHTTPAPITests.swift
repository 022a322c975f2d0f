import HTTPTypes
import Hummingbird
import RaftCore
import Rafty
import RaftyKV
import RaftyTestSupport
import Testing

@Suite("KV HTTP API on a three-node cluster", .timeLimit(.minutes(1)))
struct KVHTTPAPITests {
    @Test("PUT, GET with every consistency, DELETE; a follower forwards writes and reads to the leader")
    func keyValueLifecycle() async throws {
        let cluster = KVTestCluster(size: 3)
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) }
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1

            let put = try await cluster.request(follower, .put, "/v1/kv/greeting", body: Array("hello".utf8))
            #expect(put.status == .ok)
            let index = try #require(try put.json()["index"] as? Int)
            #expect(index > 0)

            for consistency in ["", "?consistency=linearizable", "?consistency=lease"] {
                let get = try await cluster.request(follower, .get, "/v1/kv/greeting\(consistency)")
                #expect(get.status == .ok)
                #expect(get.text == "hello")
                #expect(get.headers[.contentType] == "application/octet-stream")
            }
            try await eventually("the follower applied the write") { cluster.store(follower).lastAppliedIndex >= index }
            #expect(try await cluster.request(follower, .get, "/v1/kv/greeting?consistency=stale").text == "hello")

            let overwrite = try await cluster.request(leader, .put, "/v1/kv/greeting", body: Array("again".utf8))
            #expect(try #require(try overwrite.json()["index"] as? Int) > index)

            let delete = try await cluster.request(follower, .delete, "/v1/kv/greeting")
            #expect(delete.status == .ok)
            #expect(try delete.json()["deleted"] as? Bool == true)
            #expect(try delete.json()["index"] as? Int != nil)

            let missing = try await cluster.request(follower, .get, "/v1/kv/greeting")
            #expect(missing.status == .notFound)
            #expect(try missing.errorCode() == "not_found")

            let deleteAgain = try await cluster.request(leader, .delete, "/v1/kv/greeting")
            #expect(deleteAgain.status == .ok)
            #expect(try deleteAgain.json()["deleted"] as? Bool == false)

            let empty = try await cluster.request(leader, .put, "/v1/kv/empty")
            #expect(empty.status == .ok)
            let emptyGet = try await cluster.request(leader, .get, "/v1/kv/empty")
            #expect(emptyGet.status == .ok && emptyGet.body.isEmpty)

            try await cluster.stopAll()
            group.cancelAll()
        }
    }

    @Test("GET /v1/snapshot streams a snapshot of several chunks that restores to the node's state")
    func snapshotRoute() async throws {
        let cluster = KVTestCluster(size: 3)
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) }
            let leader = try await cluster.leader()
            for i in 0..<12 {
                let value = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &+ i) }
                #expect(try await cluster.request(leader, .put, "/v1/kv/k\(i)", body: value).status == .ok)
            }
            let follower = leader % 3 + 1
            let answer = try await cluster.request(follower, .get, "/v1/snapshot")
            #expect(answer.status == .ok && answer.body.count > 12 * 50_000)
            #expect(answer.headers[.contentLength] == "\(answer.body.count)")
            let restored = KVStore()
            try await restored.restore(from: SnapshotInput(bytes: answer.body))
            #expect(restored.count == 12)
            for i in 0..<12 {
                #expect(restored.value(forKey: Array("k\(i)".utf8)) == (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &+ i) })
            }
            try await cluster.stopAll()
            group.cancelAll()
        }
    }

    @Test("Compare-and-set with ?prev and create-only with ?prevExist=false; 409 on conflict")
    func compareAndSet() async throws {
        let cluster = KVTestCluster(size: 3)
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) }
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1

            let absent = try await cluster.request(follower, .put, "/v1/kv/c?prev=one", body: Array("two".utf8))
            #expect(absent.status == .conflict)
            #expect(try absent.errorCode() == "conflict")

            let created = try await cluster.request(follower, .put, "/v1/kv/c?prevExist=false", body: Array("one two".utf8))
            #expect(created.status == .ok)
            let exists = try await cluster.request(follower, .put, "/v1/kv/c?prevExist=false", body: Array("x".utf8))
            #expect(exists.status == .conflict)

            let wrong = try await cluster.request(follower, .put, "/v1/kv/c?prev=one", body: Array("x".utf8))
            #expect(wrong.status == .conflict)
            let swapped = try await cluster.request(follower, .put, "/v1/kv/c?prev=one%20two", body: Array("three".utf8))
            #expect(swapped.status == .ok)
            #expect(try swapped.json()["index"] as? Int != nil)
            #expect(try await cluster.request(leader, .get, "/v1/kv/c").text == "three")

            let both = try await cluster.request(leader, .put, "/v1/kv/c?prev=three&prevExist=false", body: [])
            #expect(both.status == .badRequest)
            let prevExistTrue = try await cluster.request(leader, .put, "/v1/kv/c?prevExist=true", body: [])
            #expect(prevExistTrue.status == .badRequest)
            let typo = try await cluster.request(leader, .put, "/v1/kv/c?perv=three", body: Array("blind".utf8))
            #expect(typo.status == .badRequest)
            #expect(try await cluster.request(leader, .get, "/v1/kv/c").text == "three", "refused requests wrote nothing")

            try await cluster.stopAll()
            group.cancelAll()
        }
    }

    @Test("Percent-encoded keys: spaces, encoded slashes, UTF-8 and raw bytes round-trip")
    func percentEncodedKeys() async throws {
        let cluster = KVTestCluster(size: 3)
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) }
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            let keys: [[UInt8]] = [
                Array("with space".utf8), Array("a/b".utf8), Array("ключ ✓ 🔑".utf8), Array("100%".utf8),
                Array("q?x=1&y".utf8), Array("plus+sign".utf8), [0, 1, 0xFF, 0xFE],
            ]
            for (i, key) in keys.enumerated() {
                let put = try await cluster.request(follower, .put, "/v1/kv/\(percentEncoded(key))", body: Array("v\(i)".utf8))
                #expect(put.status == .ok, "PUT \(key)")
            }
            for (i, key) in keys.enumerated() {
                let get = try await cluster.request(leader, .get, "/v1/kv/\(percentEncoded(key))")
                #expect(get.status == .ok && get.text == "v\(i)", "GET \(key)")
                #expect(cluster.store(leader).value(forKey: key) == Array("v\(i)".utf8), "stored under the decoded key")
            }
            let raw = try await cluster.request(leader, .get, "/v1/kv/with%20space")
            #expect(raw.text == "v0")
            let malformed = try await cluster.request(leader, .get, "/v1/kv/bad%zz")
            #expect(malformed.status == .badRequest)

            try await cluster.stopAll()
            group.cancelAll()
        }
    }

    @Test("Status and members describe the cluster; health answers")
    func statusAndMembers() async throws {
        let cluster = KVTestCluster(size: 3)
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) }
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            _ = try await cluster.request(leader, .put, "/v1/kv/x", body: [1])
            try await eventually("the follower knows every member and the leader") {
                let status = cluster.node(follower).status
                return status.members.count == 3 && status.leaderID == leader && status.members.allSatisfy { $0.address != nil }
            }

            let status = try await cluster.request(follower, .get, "/v1/status")
            #expect(status.status == .ok)
            #expect(status.headers[.contentType] == "application/json")
            let json = try status.json()
            #expect(json["id"] as? Int == Int(follower))
            #expect(json["address"] as? String == cluster.address(follower))
            #expect(json["state"] as? String == "follower")
            #expect((json["term"] as? Int ?? 0) >= 1)
            #expect((json["commitIndex"] as? Int ?? 0) >= 1)
            #expect(json["lastApplied"] is Int)
            #expect(json["leaderID"] as? Int == Int(leader))
            #expect(json["leaderAddress"] as? String == cluster.address(leader))
            #expect(json["lastLeaderContact"] is Int)
            let members = try #require(json["members"] as? [[String: Any]])
            #expect(members.map { $0["id"] as? Int } == [1, 2, 3])
            #expect(members.allSatisfy { $0["voter"] as? Bool == true })
            #expect(members.map { $0["address"] as? String } == [1, 2, 3].map { cluster.address($0) })

            // Per member: when it was last heard from, and (on the leader) how far its log goes.
            let ownContact = members.first { $0["id"] as? Int == Int(follower) }?["lastContact"] as? Int
            let leaderContact = members.first { $0["id"] as? Int == Int(leader) }?["lastContact"] as? Int
            let matchIndexShown = members.contains { $0["matchIndex"] as? Int != nil }
            #expect(ownContact == nil && leaderContact != nil && !matchIndexShown)
            #expect(members.allSatisfy { $0.keys.contains("lastContact") && $0.keys.contains("matchIndex") })
            let leaderStatus = try await cluster.request(leader, .get, "/v1/status").json()
            #expect(leaderStatus["state"] as? String == "leader")
            #expect(leaderStatus["lastLeaderContact"] as? Int == 0)
            let leaderMembers = try #require(leaderStatus["members"] as? [[String: Any]])
            let followerViews = leaderMembers.filter { $0["id"] as? Int != Int(leader) }
            let matches = followerViews.compactMap { $0["matchIndex"] as? Int }
            let contacts = followerViews.compactMap { $0["lastContact"] as? Int }
            #expect(matches.count == 2 && matches.allSatisfy { $0 >= 1 } && contacts.count == 2)

            let list = try await cluster.request(follower, .get, "/v1/members")
            #expect(list.status == .ok)
            let listed = try #require(try list.json()["members"] as? [[String: Any]])
            #expect(listed.map { $0["id"] as? Int } == [1, 2, 3])

            let health = try await cluster.request(follower, .get, "/health")
            #expect(health.status == .ok)
            try await eventually("the follower is ready") {
                try await cluster.request(follower, .get, "/ready").status == .ok
            }

            try await cluster.stopAll()
            group.cancelAll()
        }
    }

    @Test("/metrics emits the node's raft_ metrics in Prometheus text format")
    func metrics() async throws {
        let cluster = KVTestCluster(size: 3)
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) }
            let leader = try await cluster.leader()
            _ = try await cluster.request(leader, .put, "/v1/kv/m", body: [1])
            let metrics = try await cluster.request(leader, .get, "/metrics")
            #expect(metrics.status == .ok)
            #expect(metrics.headers[.contentType] == "text/plain; version=0.0.4")
            #expect(metrics.text.contains("raft_term"), "\(metrics.text.prefix(500))")
            #expect(metrics.text.contains("# TYPE raft_"))

            try await cluster.stopAll()
            group.cancelAll()
        }
    }

    @Test("Bad input: 400 empty key, bad consistency, bad JSON; 404 unknown route; 413 oversized")
    func clientErrors() async throws {
        let cluster = KVTestCluster(size: 3, limits: KVLimits(maxKeyBytes: 16, maxValueBytes: 1024))
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) }
            let leader = try await cluster.leader()
            let follower = leader % 3 + 1
            func expectError(_ answer: HTTPAnswer, _ status: HTTPResponse.Status, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
                #expect(answer.status == status, "\(answer.text)", sourceLocation: sourceLocation)
                #expect(try answer.errorCode() == code, "\(answer.text)", sourceLocation: sourceLocation)
                #expect(answer.headers[.contentType] == "application/json", sourceLocation: sourceLocation)
            }

            try expectError(try await cluster.request(follower, .put, "/v1/kv/", body: [1]), .badRequest, "invalid_key")
            try expectError(try await cluster.request(follower, .get, "/v1/kv"), .badRequest, "invalid_key")
            try expectError(try await cluster.request(follower, .delete, "/v1/kv/"), .badRequest, "invalid_key")
            try expectError(try await cluster.request(follower, .get, "/v1/kv/k?consistency=eventual"), .badRequest, "bad_request")
            try expectError(try await cluster.request(follower, .get, "/v1/nothing"), .notFound, "not_found")

            try expectError(
                try await cluster.request(follower, .put, "/v1/kv/big", body: [UInt8](repeating: 1, count: 1025)),
                .contentTooLarge, "value_too_large")
            try expectError(
                try await cluster.request(follower, .put, "/v1/kv/\(String(repeating: "k", count: 17))", body: [1]),
                .contentTooLarge, "key_too_large")
            let atLimit = try await cluster.request(follower, .put, "/v1/kv/\(String(repeating: "k", count: 16))", body: [UInt8](repeating: 1, count: 1024))
            #expect(atLimit.status == .ok)
            #expect(try await cluster.request(leader, .get, "/v1/kv/big").status == .notFound, "the oversized value was not written")

            let json: HTTPFields = [.contentType: "application/json"]
            try expectError(try await cluster.request(follower, .post, "/v1/members", body: Array("{not json".utf8), headers: json), .badRequest, "bad_request")
            try expectError(
                try await cluster.request(follower, .post, "/v1/members", body: Array("{\"id\": \"x\"}".utf8), headers: json), .badRequest, "bad_request")
            try expectError(try await cluster.request(follower, .delete, "/v1/members/zero"), .badRequest, "bad_request")
            try expectError(
                try await cluster.request(follower, .post, "/v1/leadership/transfer", body: Array("[1]".utf8), headers: json), .badRequest, "bad_request")
            try expectError(
                try await cluster.request(follower, .post, "/v1/leadership/transfer", body: Array("{\"to\": 9}".utf8), headers: json), .badRequest,
                "bad_request")

            let error = try await cluster.request(follower, .get, "/v1/kv/absent")
            #expect((try error.json()["error"] as? [String: Any])?["leader"] as? String == cluster.address(leader))

            try await cluster.stopAll()
            group.cancelAll()
        }
    }

    @Test("Leadership transfer from any node, to a named voter or to the most up-to-date one")
    func leadershipTransfer() async throws {
        let cluster = KVTestCluster(size: 3)
        try await withThrowingDiscardingTaskGroup { group in
            for id in UInt64(1)...3 { try cluster.start(id, in: &group) }
            let leader = try await cluster.leader()
            let target = leader % 3 + 1
            let other = target % 3 + 1
            try await eventually("the followers know every member") {
                [target, other].allSatisfy { cluster.node($0).status.members.count == 3 }
            }

            let named = try await cluster.request(
                other, .post, "/v1/leadership/transfer", body: Array("{\"to\": \(target)}".utf8), headers: [.contentType: "application/json"])
            #expect(named.status == .ok, "\(named.text)")
            #expect(try named.json()["leaderID"] as? Int == Int(target))
            #expect(try await cluster.leader() == target)

            let any = try await cluster.request(target, .post, "/v1/leadership/transfer")
            #expect(any.status == .ok, "\(any.text)")
            let next = try #require(try any.json()["leaderID"] as? Int)
            #expect(next != Int(target))
            #expect(try await cluster.leader() == NodeID(next))
            #expect(try await cluster.request(target, .put, "/v1/kv/after", body: [1]).status == .ok)

            try await cluster.stopAll()
            group.cancelAll()
        }
    }
}
