import RaftCore
import RaftyTestSupport
import Testing

@testable import Rafty

#if canImport(Glibc)
    import Glibc
#endif

/// Shared helpers for the ``FileLogStore`` tests.
enum WALTestSupport {
    /// Entries with payloads of varied sizes (a noop and a configuration now and then).
    static func entries(_ range: ClosedRange<UInt64>, term: UInt64, size: Int = 10) -> [Entry] {
        range.map { index in
            switch index % 7 {
            case 3: return Entry(term: term, index: index, payload: .noop)
            case 5:
                // Every other one records addresses and incarnations (entry tag 4 rather than 3).
                let full = index % 2 == 0
                return Entry(
                    term: term, index: index,
                    payload: .configuration(
                        ClusterConfiguration(
                            voters: [1, 2, 3], learners: [9], addresses: full ? [1: "a:1", 9: "b:9"] : [:], incarnations: full ? [1: index, 9: 7] : [:])))
            default:
                let count = size + Int(index % 5) * 3
                return Entry(term: term, index: index, payload: .command((0..<count).map { UInt8(truncatingIfNeeded: Int(index) &* 31 &+ $0) }))
            }
        }
    }

    /// Runs `body`, expecting a ``StorageError`` with `code`; returns it.
    @discardableResult
    static func expectError(
        _ code: StorageError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
    ) -> StorageError? {
        do {
            try body()
            Issue.record("expected a \(code) error, got none", sourceLocation: sourceLocation)
        } catch let error as StorageError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            return error
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    static func segmentNames(_ directory: String) throws -> [String] {
        try FileSystem.list(directory).filter { $0.hasSuffix(".wal") }
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let file = try POSIXFile(path: path, flags: O_RDONLY)
        defer { file.close() }
        return try file.readAll()
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        let file = try POSIXFile(path: path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        defer { file.close() }
        try file.write(bytes, at: 0)
    }

    /// Every file of a directory, by name.
    static func image(_ directory: String) throws -> [String: [UInt8]] {
        var image: [String: [UInt8]] = [:]
        for name in try FileSystem.list(directory) { image[name] = try Self.readFile(directory + "/" + name) }
        return image
    }

    /// Makes the directory hold exactly `image`.
    static func restore(_ directory: String, _ image: [String: [UInt8]]) throws {
        for name in try FileSystem.list(directory) where image[name] == nil { try FileSystem.removeFile(directory + "/" + name) }
        for (name, bytes) in image { try Self.writeFile(directory + "/" + name, bytes) }
    }
}

@Suite("FileLogStore")
struct FileLogStoreTests {
    typealias Support = WALTestSupport

    @Test("A new store is empty, survives reopening, and creates its directory")
    func emptyStore() throws {
        let temporary = TemporaryDirectory("rafty-wal")
        defer { temporary.remove() }
        let directory = temporary.path + "/data/wal"
        for _ in 0..<2 {
            let store = try FileLogStore(directory: directory)
            #expect(store.firstIndex == 1)
            #expect(store.lastIndex == 0)
            #expect(try store.allEntries().isEmpty)
            #expect(try store.entries(in: 1..<1, maxBytes: 10).isEmpty)
            Support.expectError(.outOfRange) { _ = try store.term(at: 1) }
            store.close()
        }
        #expect(FileSystem.isDirectory(directory))
        #expect(try Support.segmentNames(directory).isEmpty)
    }

    @Test("Appends read back by range, term and byte limit, before and after reopening")
    func appendReadReopen() throws {
        let temporary = TemporaryDirectory("rafty-wal")
        defer { temporary.remove() }
        let directory = temporary.path + "/wal"
        let all = Support.entries(1...10, term: 1) + Support.entries(11...25, term: 2, size: 100)
        do {
            let store = try FileLogStore(directory: directory)
            try store.append(Array(all[0..<10]))
            try store.append([all[10]])
            try store.append([])
            try store.append(Array(all[11...]))
            #expect(try store.allEntries() == all)
            store.close()
        }
        let store = try FileLogStore(directory: directory)
        defer { store.close() }
        #expect(store.firstIndex == 1)
        #expect(store.lastIndex == 25)
        #expect(try store.allEntries() == all)
        #expect(try store.entries(in: 4..<9, maxBytes: .max) == Array(all[3..<8]))
        #expect(try store.term(at: 10) == 1)
        #expect(try store.term(at: 11) == 2)
        // Byte limit: the same rule as the in-memory store, always at least one entry.
        let memory = InMemoryLogStore()
        try memory.append(all)
        for maxBytes in [0, 1, 30, 100, 150, 500, 1000, .max] {
            #expect(try store.entries(in: 2..<26, maxBytes: maxBytes) == memory.entries(in: 2..<26, maxBytes: maxBytes))
        }
        #expect(try Support.segmentNames(directory) == ["00000000000000000001.wal"])
    }

    @Test("Small segments roll over; reads, terms and reopening work across segment boundaries")
    func rollover() throws {
        let temporary = TemporaryDirectory("rafty-wal")
        defer { temporary.remove() }
        var all: [Entry] = []
        let store = try FileLogStore(directory: temporary.path, segmentSize: 256)
        var next: UInt64 = 1
        for batch in 0..<30 {
            let count = UInt64(batch % 4 + 1)
            let entries = Support.entries(next...(next + count - 1), term: UInt64(batch / 10 + 1), size: batch % 3 * 40)
            try store.append(entries)
            all += entries
            next += count
        }
        let names = try Support.segmentNames(temporary.path)
        #expect(names.count > 5)
        // A segment exceeds the size only when a single batch does; each starts at its first index.
        for name in names {
            let bytes = try Support.readFile(temporary.path + "/" + name)
            let first = try #require(WALFormat.parseSegmentName(name))
            let scan = try WALFormat.scanSegment(bytes, path: name, firstIndex: first)
            #expect(scan.damage == nil)
            #expect(bytes.count <= 256 || Set(scan.entries.map(\.batchOffset)).count == 1)
            #expect(try store.term(at: first) == all[Int(first - 1)].term)
        }
        #expect(try store.allEntries() == all)
        for start in stride(from: UInt64(1), to: next, by: 7) {
            #expect(try store.entries(in: start..<next, maxBytes: .max) == Array(all[Int(start - 1)...]))
        }
        store.close()
        let reopened = try FileLogStore(directory: temporary.path, segmentSize: 256)
        defer { reopened.close() }
        #expect(try reopened.allEntries() == all)
        #expect(try Support.segmentNames(temporary.path) == names)
        // Appending after reopening continues the last segment or starts a new one.
        try reopened.append(Support.entries(next...(next + 2), term: 9))
        #expect(reopened.lastIndex == next + 2)
    }

    @Test("Truncation within a batch, at a segment start, and across segments; survives reopening")
    func truncateAcrossSegments() throws {
        let temporary = TemporaryDirectory("rafty-wal")
        defer { temporary.remove() }
        var all = Support.entries(1...60, term: 1, size: 30)
        do {
            let store = try FileLogStore(directory: temporary.path, segmentSize: 300)
            for chunk in stride(from: 0, to: 60, by: 3) { try store.append(Array(all[chunk..<(chunk + 3)])) }
            let before = try Support.segmentNames(temporary.path)
            #expect(before.count > 4)

            // Within a batch of the last segment.
            try store.truncateSuffix(from: 59)
            all.removeLast(2)
            #expect(store.lastIndex == 58)
            #expect(try store.allEntries() == all)

            // No-op at lastIndex + 1.
            try store.truncateSuffix(from: 59)
            #expect(store.lastIndex == 58)

            // In the middle of an earlier segment: later segments go.
            try store.truncateSuffix(from: 20)
            all.removeLast(all.count - 19)
            #expect(try store.allEntries() == all)
            let after = try Support.segmentNames(temporary.path)
            #expect(after.count < before.count)
            #expect(after.allSatisfy { WALFormat.parseSegmentName($0)! <= 19 })

            // At the first index of a segment: that segment goes too.
            let lastSegmentStart = WALFormat.parseSegmentName(after.last!)!
            if lastSegmentStart > 1 {
                try store.truncateSuffix(from: lastSegmentStart)
                all.removeLast(all.count - Int(lastSegmentStart - 1))
                #expect(!(try Support.segmentNames(temporary.path).contains(after.last!)))
            }
            #expect(try store.allEntries() == all)

            // Appending a different term after truncation.
            let replacement = Support.entries(UInt64(all.count + 1)...UInt64(all.count + 5), term: 2, size: 50)
            try store.append(replacement)
            all += replacement
            #expect(try store.allEntries() == all)
            store.close()
        }
        let store = try FileLogStore(directory: temporary.path, segmentSize: 300)
        #expect(try store.allEntries() == all)
        // Everything.
        try store.truncateSuffix(from: 1)
        #expect(store.lastIndex == 0)
        #expect(try Support.segmentNames(temporary.path).isEmpty)
        try store.append(Support.entries(1...2, term: 3))
        store.close()
        let again = try FileLogStore(directory: temporary.path, segmentSize: 300)
        defer { again.close() }
        #expect(try again.allEntries() == Support.entries(1...2, term: 3))
    }

    @Test("Compaction hides entries, deletes whole segments below it, and survives reopening")
    func compaction() throws {
        let temporary = TemporaryDirectory("rafty-wal")
        defer { temporary.remove() }
        let all = Support.entries(1...40, term: 4, size: 40)
        let store = try FileLogStore(directory: temporary.path, segmentSize: 300)
        for chunk in stride(from: 0, to: 40, by: 4) { try store.append(Array(all[chunk..<(chunk + 4)])) }
        let before = try Support.segmentNames(temporary.path)

        try store.compactPrefix(through: 22)
        #expect(store.firstIndex == 23)
        #expect(store.lastIndex == 40)
        #expect(try store.allEntries() == Array(all[22...]))
        Support.expectError(.compacted) { _ = try store.term(at: 22) }
        Support.expectError(.compacted) { _ = try store.entries(in: 20..<25, maxBytes: .max) }
        Support.expectError(.compacted) { try store.truncateSuffix(from: 22) }
        let after = try Support.segmentNames(temporary.path)
        #expect(after.count < before.count)
        #expect(WALFormat.parseSegmentName(after[0])! <= 23)

        // Below the first index: nothing happens.
        try store.compactPrefix(through: 5)
        #expect(store.firstIndex == 23)
        store.close()

        let reopened = try FileLogStore(directory: temporary.path, segmentSize: 300)
        #expect(reopened.firstIndex == 23)
        #expect(try reopened.allEntries() == Array(all[22...]))
        // Truncating from the first index empties the store but keeps the compaction point.
        try reopened.truncateSuffix(from: 23)
        #expect(reopened.firstIndex == 23)
        #expect(reopened.lastIndex == 22)
        try reopened.append(Support.entries(23...24, term: 5))
        reopened.close()
        let third = try FileLogStore(directory: temporary.path, segmentSize: 300)
        defer { third.close() }
        #expect(try third.allEntries() == Support.entries(23...24, term: 5))
    }

    @Test("Compaction at or beyond the last index empties the store; appends resume after it", arguments: [0, 15])
    func compactionBeyondLast(extra: UInt64) throws {
        let temporary = TemporaryDirectory("rafty-wal")
        defer { temporary.remove() }
        let store = try FileLogStore(directory: temporary.path, segmentSize: 200)
        try store.append(Support.entries(1...10, term: 1, size: 60))
        try store.compactPrefix(through: 10 + extra)
        #expect(store.firstIndex == 11 + extra)
        #expect(store.lastIndex == 10 + extra)
        #expect(try store.allEntries().isEmpty)
        #expect(try Support.segmentNames(temporary.path).isEmpty)
        Support.expectError(.compacted) { _ = try store.term(at: 10) }
        Support.expectError(.nonContiguous) { try store.append(Support.entries(10...10, term: 2)) }
        if extra > 0 { Support.expectError(.nonContiguous) { try store.append(Support.entries(11...11, term: 2)) } }
        store.close()

        let reopened = try FileLogStore(directory: temporary.path, segmentSize: 200)
        #expect(reopened.firstIndex == 11 + extra)
        #expect(reopened.lastIndex == 10 + extra)
        let next = Support.entries((11 + extra)...(13 + extra), term: 2)
        try reopened.append(next)
        reopened.close()
        let third = try FileLogStore(directory: temporary.path, segmentSize: 200)
        defer { third.close() }
        #expect(third.firstIndex == 11 + extra)
        #expect(try third.allEntries() == next)
    }

    @Test("Every bad request throws its code, and a closed store throws .closed")
    func errors() throws {
        let temporary = TemporaryDirectory("rafty-wal")
        defer { temporary.remove() }
        Support.expectError(.invalidArgument) { _ = try FileLogStore(directory: temporary.path, segmentSize: 0) }
        let store = try FileLogStore(directory: temporary.path)
        Support.expectError(.nonContiguous) { try store.append(Support.entries(2...3, term: 1)) }
        try store.append(Support.entries(1...5, term: 1))
        Support.expectError(.nonContiguous) { try store.append(Support.entries(5...6, term: 1)) }
        Support.expectError(.nonContiguous) { try store.append(Support.entries(7...8, term: 1)) }
        Support.expectError(.nonContiguous) {
            try store.append([Entry(term: 1, index: 6, payload: .noop), Entry(term: 1, index: 8, payload: .noop)])
        }
        #expect(store.lastIndex == 5)
        Support.expectError(.outOfRange) { try store.truncateSuffix(from: 7) }
        Support.expectError(.outOfRange) { _ = try store.term(at: 6) }
        Support.expectError(.outOfRange) { _ = try store.entries(in: 3..<7, maxBytes: .max) }
        try store.compactPrefix(through: 2)
        Support.expectError(.compacted) { _ = try store.term(at: 2) }
        Support.expectError(.compacted) { _ = try store.entries(in: 2..<4, maxBytes: .max) }
        Support.expectError(.compacted) { try store.truncateSuffix(from: 1) }
        #expect(try store.allEntries() == Array(Support.entries(1...5, term: 1)[2...]))

        store.close()
        store.close()
        Support.expectError(.closed) { try store.append(Support.entries(6...6, term: 1)) }
        Support.expectError(.closed) { try store.truncateSuffix(from: 4) }
        Support.expectError(.closed) { try store.compactPrefix(through: 4) }
        Support.expectError(.closed) { _ = try store.entries(in: 3..<4, maxBytes: .max) }
        Support.expectError(.closed) { _ = try store.term(at: 3) }
        // The data is still there for the next process.
        let reopened = try FileLogStore(directory: temporary.path)
        defer { reopened.close() }
        #expect(reopened.firstIndex == 3)
        #expect(reopened.lastIndex == 5)
    }

    @Test("Each append is one framed batch: the segment grows by the batch's exact size")
    func batchFraming() throws {
        let temporary = TemporaryDirectory("rafty-wal")
        defer { temporary.remove() }
        let store = try FileLogStore(directory: temporary.path)
        defer { store.close() }
        let entries = Support.entries(1...50, term: 1)
        try store.append(entries)
        let bytes = try Support.readFile(temporary.path + "/" + WALFormat.segmentName(1))
        let expected = try WALFormat.encodeBatch(entries).bytes
        #expect(bytes == WALFormat.segmentHeader(firstIndex: 1) + expected)
    }
}
