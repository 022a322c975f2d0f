import RaftCore
import RaftyTestSupport
import Testing

@testable import Rafty

/// The behaviour every ``LogStore`` must share, run against each implementation.
@Suite("LogStore conformance")
struct LogStoreConformanceTests {
    /// The implementations under test.
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case memory
        case file
        case fileTinySegments

        var testDescription: String { self.rawValue }
    }

    /// A store plus a way to reopen it as a restarted process would.
    final class Harness {
        let kind: Kind
        let directory: TemporaryDirectory?
        private(set) var store: any LogStore

        init(_ kind: Kind) throws {
            self.kind = kind
            switch kind {
            case .memory:
                self.directory = nil
                self.store = InMemoryLogStore()
            case .file, .fileTinySegments:
                let directory = TemporaryDirectory("rafty-logstore")
                self.directory = directory
                self.store = try Self.openFile(kind, directory)
            }
        }

        static func openFile(_ kind: Kind, _ directory: TemporaryDirectory) throws -> any LogStore {
            try FileLogStore(directory: directory.path + "/wal", segmentSize: kind == .fileTinySegments ? 300 : 64 << 20)
        }

        /// Closes and reopens (a no-op for the in-memory store, which has nothing to reopen from).
        func reopen() throws {
            guard let directory else { return }
            self.store.close()
            self.store = try Self.openFile(self.kind, directory)
        }

        deinit {
            self.store.close()
            self.directory?.remove()
        }
    }

    static func entries(_ range: ClosedRange<UInt64>, term: UInt64) -> [Entry] {
        range.map { Entry(term: term, index: $0, payload: .command(Array("value-\($0)-\(term)".utf8))) }
    }

    static func expectError(_ code: StorageError.Code, _ body: () throws -> Void) {
        #expect {
            try body()
        } throws: { error in
            (error as? StorageError)?.code == code
        }
    }

    @Test("A new store is empty and starts at index 1", arguments: Kind.allCases)
    func emptyStore(kind: Kind) throws {
        let harness = try Harness(kind)
        for _ in 0..<2 {
            #expect(harness.store.firstIndex == 1)
            #expect(harness.store.lastIndex == 0)
            #expect(try harness.store.allEntries().isEmpty)
            #expect(try harness.store.entries(in: 1..<1, maxBytes: 100).isEmpty)
            Self.expectError(.outOfRange) { _ = try harness.store.term(at: 1) }
            Self.expectError(.outOfRange) { _ = try harness.store.entries(in: 1..<2, maxBytes: 100) }
            try harness.reopen()
        }
    }

    @Test("Appended batches read back by index, range and byte limit", arguments: Kind.allCases)
    func appendAndRead(kind: Kind) throws {
        let harness = try Harness(kind)
        let first = Self.entries(1...3, term: 1)
        let second = Self.entries(4...4, term: 1) + [Entry(term: 2, index: 5, payload: .noop)]
        let third = [Entry(term: 2, index: 6, payload: .configuration(ClusterConfiguration(voters: [1, 2, 3], learners: [4])))]
        try harness.store.append(first)
        try harness.store.append(second)
        try harness.store.append(third)
        try harness.store.append([])
        for _ in 0..<2 {
            #expect(harness.store.firstIndex == 1)
            #expect(harness.store.lastIndex == 6)
            #expect(try harness.store.allEntries() == first + second + third)
            #expect(try harness.store.term(at: 5) == 2)
            #expect(try harness.store.entries(in: 2..<5, maxBytes: .max) == Array((first + second)[1..<4]))
            // The byte limit stops early but always returns at least one entry.
            #expect(try harness.store.entries(in: 1..<7, maxBytes: 1) == [first[0]])
            let two = try harness.store.entries(in: 1..<7, maxBytes: first[0].byteSize + first[1].byteSize)
            #expect(two == Array(first[0...1]))
            try harness.reopen()
        }
    }

    @Test("A non-contiguous append is rejected and changes nothing", arguments: Kind.allCases)
    func nonContiguousAppend(kind: Kind) throws {
        let harness = try Harness(kind)
        try harness.store.append(Self.entries(1...3, term: 1))
        Self.expectError(.nonContiguous) { try harness.store.append(Self.entries(5...6, term: 1)) }
        Self.expectError(.nonContiguous) { try harness.store.append(Self.entries(3...4, term: 1)) }
        Self.expectError(.nonContiguous) {
            try harness.store.append([Entry(term: 1, index: 4, payload: .noop), Entry(term: 1, index: 6, payload: .noop)])
        }
        try harness.reopen()
        #expect(harness.store.lastIndex == 3)
        #expect(try harness.store.allEntries() == Self.entries(1...3, term: 1))
    }

    @Test("Truncating a suffix then appending overwrites it", arguments: Kind.allCases)
    func overwriteAfterTruncation(kind: Kind) throws {
        let harness = try Harness(kind)
        for batch in stride(from: UInt64(1), through: 28, by: 3) {
            try harness.store.append(Self.entries(batch...(batch + 2), term: 1))
        }
        #expect(harness.store.lastIndex == 30)
        try harness.store.truncateSuffix(from: 12)
        #expect(harness.store.lastIndex == 11)
        try harness.store.append(Self.entries(12...14, term: 2))
        try harness.reopen()
        #expect(try harness.store.allEntries() == Self.entries(1...11, term: 1) + Self.entries(12...14, term: 2))
        // Truncating at lastIndex + 1 is a no-op; beyond it is an error; at the first index empties the log.
        try harness.store.truncateSuffix(from: 15)
        #expect(harness.store.lastIndex == 14)
        Self.expectError(.outOfRange) { try harness.store.truncateSuffix(from: 16) }
        try harness.store.truncateSuffix(from: 1)
        try harness.reopen()
        #expect(harness.store.lastIndex == 0)
        try harness.store.append(Self.entries(1...2, term: 3))
        #expect(try harness.store.allEntries() == Self.entries(1...2, term: 3))
    }

    @Test("Compaction moves the first index; compacted entries are an error", arguments: Kind.allCases)
    func compactionBoundaries(kind: Kind) throws {
        let harness = try Harness(kind)
        for batch in stride(from: UInt64(1), through: 19, by: 2) {
            try harness.store.append(Self.entries(batch...(batch + 1), term: 1))
        }
        try harness.store.compactPrefix(through: 7)
        for _ in 0..<2 {
            #expect(harness.store.firstIndex == 8)
            #expect(harness.store.lastIndex == 20)
            #expect(try harness.store.allEntries() == Self.entries(8...20, term: 1))
            Self.expectError(.compacted) { _ = try harness.store.term(at: 7) }
            Self.expectError(.compacted) { _ = try harness.store.entries(in: 7..<9, maxBytes: .max) }
            Self.expectError(.compacted) { try harness.store.truncateSuffix(from: 7) }
            try harness.reopen()
        }
        // Compacting below the first index changes nothing.
        try harness.store.compactPrefix(through: 3)
        #expect(harness.store.firstIndex == 8)
        // Compacting at the last index empties the store; appends continue after it.
        try harness.store.compactPrefix(through: 20)
        try harness.reopen()
        #expect(harness.store.firstIndex == 21)
        #expect(harness.store.lastIndex == 20)
        Self.expectError(.nonContiguous) { try harness.store.append(Self.entries(1...1, term: 1)) }
        try harness.store.append(Self.entries(21...22, term: 2))
        // Compacting beyond the last index (a snapshot from the leader) empties it and skips ahead.
        try harness.store.compactPrefix(through: 100)
        try harness.reopen()
        #expect(harness.store.firstIndex == 101)
        #expect(harness.store.lastIndex == 100)
        try harness.store.append(Self.entries(101...103, term: 4))
        try harness.reopen()
        #expect(try harness.store.allEntries() == Self.entries(101...103, term: 4))
    }

    @Test("Reads cross segment boundaries", arguments: Kind.allCases)
    func readsAcrossSegments(kind: Kind) throws {
        let harness = try Harness(kind)
        var expected: [Entry] = []
        var next: UInt64 = 1
        for size in [1, 5, 2, 9, 1, 3, 7] {
            let batch = Self.entries(next...(next + UInt64(size) - 1), term: next / 10 + 1)
            try harness.store.append(batch)
            expected += batch
            next += UInt64(size)
        }
        try harness.reopen()
        #expect(try harness.store.allEntries() == expected)
        for start in stride(from: UInt64(1), to: next, by: 4) {
            let end = min(next, start + 6)
            #expect(try harness.store.entries(in: start..<end, maxBytes: .max) == Array(expected[Int(start - 1)..<Int(end - 1)]))
            #expect(try harness.store.term(at: start) == expected[Int(start - 1)].term)
        }
    }

    @Test("A closed store refuses every call", arguments: Kind.allCases)
    func closedStore(kind: Kind) throws {
        let harness = try Harness(kind)
        try harness.store.append(Self.entries(1...2, term: 1))
        harness.store.close()
        Self.expectError(.closed) { try harness.store.append(Self.entries(3...3, term: 1)) }
        Self.expectError(.closed) { _ = try harness.store.term(at: 1) }
        Self.expectError(.closed) { _ = try harness.store.entries(in: 1..<2, maxBytes: 10) }
        Self.expectError(.closed) { try harness.store.truncateSuffix(from: 2) }
        Self.expectError(.closed) { try harness.store.compactPrefix(through: 1) }
    }

    @Test("Random operations match a simple model, also across reopens", arguments: Kind.allCases)
    func randomOperations(kind: Kind) throws {
        let harness = try Harness(kind)
        var rng = SplitMix64(seed: 99)
        var model: [Entry] = []
        var firstIndex: UInt64 = 1
        var term: UInt64 = 1
        for step in 0..<300 {
            let lastIndex = firstIndex + UInt64(model.count) - 1
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<6:
                let count = UInt64.random(in: 1...6, using: &rng)
                let batch = Self.entries((lastIndex + 1)...(lastIndex + count), term: term)
                try harness.store.append(batch)
                model += batch
            case 6, 7:
                guard !model.isEmpty else { continue }
                let from = UInt64.random(in: firstIndex...(lastIndex + 1), using: &rng)
                try harness.store.truncateSuffix(from: from)
                model.removeLast(Int(lastIndex + 1 - from))
                term += 1
            case 8:
                let through = UInt64.random(in: firstIndex...(lastIndex + 3), using: &rng)
                try harness.store.compactPrefix(through: through)
                model.removeFirst(min(model.count, Int(through - firstIndex + 1)))
                firstIndex = through + 1
            default:
                try harness.reopen()
            }
            #expect(harness.store.firstIndex == firstIndex, "step \(step)")
            #expect(harness.store.lastIndex == firstIndex + UInt64(model.count) - 1, "step \(step)")
        }
        try harness.reopen()
        #expect(try harness.store.allEntries() == model)
    }
}
