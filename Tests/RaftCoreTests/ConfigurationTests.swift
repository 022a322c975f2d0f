import Testing

@testable import RaftCore

@Suite("Configuration and restart input validation")
struct ConfigurationTests {
    static func configuration(_ configure: (inout RawNode.Configuration) -> Void) -> RawNode.Configuration {
        var configuration = RawNode.Configuration(id: 1)
        configure(&configuration)
        return configuration
    }

    static let invalidCases: [(field: String, configuration: RawNode.Configuration)] = [
        ("id", configuration { $0.id = 0 }),
        ("heartbeatInterval", configuration { $0.heartbeatInterval = 0 }),
        ("electionTimeout", configuration { $0.electionTimeout = 1 }),
        ("electionTimeout", configuration { $0.heartbeatInterval = 10 }),
        ("maxAppendEntries", configuration { $0.maxAppendEntries = 0 }),
        ("maxMessageBytes", configuration { $0.maxMessageBytes = 0 }),
        ("maxInflightMessages", configuration { $0.maxInflightMessages = 0 }),
        ("maxInflightBytes", configuration { $0.maxInflightBytes = 0 }),
        ("leaseDriftMargin", configuration { $0.leaseDriftMargin = 0 }),
        ("leaseDriftMargin", configuration { $0.leaseDriftMargin = 10 }),
    ]

    @Test("The defaults are valid")
    func defaultsAreValid() throws {
        try RawNode.Configuration(id: 1).validate()
        let configuration = RawNode.Configuration(id: 1)
        #expect(configuration.electionTimeout == 10)
        #expect(configuration.heartbeatInterval == 1)
        #expect(configuration.preVote)
        #expect(configuration.checkQuorum)
    }

    @Test("Each out-of-range value is rejected with an error naming the field", arguments: Self.invalidCases)
    func invalidValues(field: String, configuration: RawNode.Configuration) throws {
        let error = try #require(throws: RaftCoreError.self) { try configuration.validate() }
        #expect(error.code == .invalidConfiguration)
        #expect(error.message.contains(field), "\(error.message)")
        // RawNode refuses it too.
        #expect { try RawNode(configuration: configuration, membership: ClusterConfiguration(voters: [1])) } throws: {
            ($0 as! RaftCoreError).code == .invalidConfiguration
        }
    }

    @Test("Restoring entries that are not consecutive or have inconsistent terms fails with invalidState")
    func invalidPersistentState() throws {
        let configuration = RawNode.Configuration(id: 1)
        let membership = ClusterConfiguration(voters: [1, 2, 3])
        let invalid: [RawNode.PersistentState] = [
            // a gap
            RawNode.PersistentState(hardState: HardState(term: 2), entries: [commandEntry(index: 1, term: 1), commandEntry(index: 3, term: 1)]),
            // not starting at 1
            RawNode.PersistentState(hardState: HardState(term: 2), entries: [commandEntry(index: 2, term: 1)]),
            // decreasing terms
            RawNode.PersistentState(hardState: HardState(term: 2), entries: commandLog(terms: [2, 1])),
            // an entry newer than the stored term
            RawNode.PersistentState(hardState: HardState(term: 1), entries: commandLog(terms: [1, 2])),
            // not continuing the snapshot
            RawNode.PersistentState(
                hardState: HardState(term: 2), snapshot: SnapshotMetadata(index: 5, term: 2, configuration: membership),
                entries: [commandEntry(index: 7, term: 2)]),
            // older than the snapshot's term
            RawNode.PersistentState(
                hardState: HardState(term: 2), snapshot: SnapshotMetadata(index: 5, term: 2, configuration: membership),
                entries: [commandEntry(index: 6, term: 1)]),
        ]
        for state in invalid {
            #expect { try RawNode(configuration: configuration, membership: membership, restoring: state) } throws: {
                ($0 as! RaftCoreError).code == .invalidState
            }
        }
        // Entries covered by the snapshot are ignored; a commit beyond the log is capped.
        let node = try RawNode(
            configuration: configuration, membership: membership,
            restoring: RawNode.PersistentState(
                hardState: HardState(term: 2, commit: 99), snapshot: SnapshotMetadata(index: 2, term: 1, configuration: membership),
                entries: commandLog(terms: [1, 1, 2])))
        #expect(node.firstIndex == 3)
        #expect(node.lastIndex == 3)
        #expect(node.commitIndex == 3)
    }

    @Test("The configuration comes from the log, then the snapshot, then the given membership")
    func configurationSource() throws {
        let configuration = RawNode.Configuration(id: 1)
        let fresh = try RawNode(configuration: configuration, membership: ClusterConfiguration(voters: [1, 2]))
        #expect(fresh.configuration == ClusterConfiguration(voters: [1, 2]))
        let fromSnapshot = try RawNode(
            configuration: configuration, membership: ClusterConfiguration(voters: [1, 2]),
            restoring: RawNode.PersistentState(
                hardState: HardState(term: 1, commit: 1),
                snapshot: SnapshotMetadata(index: 1, term: 1, configuration: ClusterConfiguration(voters: [1, 3]))))
        #expect(fromSnapshot.configuration == ClusterConfiguration(voters: [1, 3]))
        let fromLog = try RawNode(
            configuration: configuration, membership: ClusterConfiguration(voters: [1, 2]),
            restoring: RawNode.PersistentState(
                hardState: HardState(term: 1),
                entries: [Entry(term: 1, index: 1, payload: .configuration(ClusterConfiguration(voters: [1], learners: [4])))]))
        #expect(fromLog.configuration == ClusterConfiguration(voters: [1], learners: [4]))
        #expect(fromLog.configurationIndex == 1)
        #expect(ClusterConfiguration(voters: [1, 2], learners: [2, 3]).learners == [3], "a voter is not also a learner")
    }

    @Test("Incarnations: recorded by addLearner and promote, kept by demote, dropped by remove; zeros and non-members never held")
    func incarnations() throws {
        var configuration = ClusterConfiguration(voters: [1, 2], incarnations: [1: 10, 2: 0, 3: 30])
        #expect(configuration.incarnations == [1: 10], "0 means unknown; 3 is not a member")
        configuration = try configuration.applying(ConfigurationChange(.addLearner, node: 4, address: "h:4"))
        #expect(configuration.incarnations[4] == nil)
        configuration = try configuration.applying(ConfigurationChange(.promote, node: 4, incarnation: 40))
        #expect(configuration.incarnations == [1: 10, 4: 40])
        configuration = try configuration.applying(ConfigurationChange(.demote, node: 4))
        #expect(configuration.incarnations[4] == 40)
        configuration = try configuration.applying(ConfigurationChange(.promote, node: 4))
        #expect(configuration.incarnations[4] == 40, "a promotion without one keeps what is recorded")
        configuration = try configuration.applying(ConfigurationChange(.remove, node: 4))
        #expect(configuration.incarnations == [1: 10])
        configuration = try configuration.applying(ConfigurationChange(.addLearner, node: 5, incarnation: 50))
        #expect(configuration.incarnations == [1: 10, 5: 50])
    }
}
