import RaftCore
import RaftyTestSupport
import Testing

@testable import Rafty

/// Recovery of ``FileLogStore`` from torn writes, bit rot and crashes in the middle of operations,
/// by reproducing the on-disk states by hand.
@Suite("FileLogStore crash recovery")
struct FileLogStoreCrashTests {
    typealias Support = WALTestSupport

    /// Where one batch was written.
    struct BatchLocation {
        var segment: String
        var start: Int
        var end: Int
    }

    /// A WAL built batch by batch, with where each batch landed.
    struct Built {
        var directory: String
        var segmentSize: Int
        var batches: [[Entry]] = []
        var locations: [BatchLocation] = []
        var image: [String: [UInt8]] = [:]

        var entries: [Entry] { self.batches.flatMap { $0 } }
        var entriesBeforeLast: [Entry] { self.batches.dropLast().flatMap { $0 } }
        var last: BatchLocation { self.locations.last! }
        var segmentNames: [String] { self.image.keys.sorted() }
    }

    enum Layout: String, CaseIterable, CustomTestStringConvertible {
        /// Everything in one segment.
        case oneSegment
        /// Several segments; the last batch shares the last segment with earlier ones.
        case sharedLastSegment
        /// Several segments; the last batch is alone in the last segment.
        case lastBatchAlone

        var testDescription: String { self.rawValue }
        var segmentSize: Int { self == .oneSegment ? 1 << 20 : 400 }

        /// Entry counts and payload sizes of the batches.
        var batches: [(count: UInt64, size: Int)] {
            switch self {
            case .oneSegment: [(1, 5), (4, 40), (2, 0), (7, 20), (3, 60)]
            case .sharedLastSegment: [(3, 50), (1, 5), (5, 40), (2, 10), (4, 30), (1, 5)]
            case .lastBatchAlone: [(3, 50), (1, 5), (5, 40), (2, 10), (3, 120)]
            }
        }
    }

    static func build(_ directory: String, _ layout: Layout) throws -> Built {
        var built = Built(directory: directory, segmentSize: layout.segmentSize)
        let store = try FileLogStore(directory: directory, segmentSize: layout.segmentSize)
        defer { store.close() }
        var next: UInt64 = 1
        for (number, shape) in layout.batches.enumerated() {
            let batch = Support.entries(next...(next + shape.count - 1), term: UInt64(number / 2 + 1), size: shape.size)
            let before = try Support.segmentNames(directory)
            let beforeSize = try before.last.map { try Support.readFile(directory + "/" + $0).count }
            try store.append(batch)
            let segment = try Support.segmentNames(directory).last!
            let end = try Support.readFile(directory + "/" + segment).count
            let start = segment == before.last ? beforeSize! : WALFormat.segmentHeaderSize
            built.batches.append(batch)
            built.locations.append(BatchLocation(segment: segment, start: start, end: end))
            next += shape.count
        }
        built.image = try Support.image(directory)
        let lastSegmentBatches = built.locations.filter { $0.segment == built.last.segment }.count
        switch layout {
        case .oneSegment: #expect(built.image.count == 1)
        case .sharedLastSegment: #expect(built.image.count > 2 && lastSegmentBatches > 1)
        case .lastBatchAlone: #expect(built.image.count > 2 && lastSegmentBatches == 1)
        }
        return built
    }

    /// Opens the store, expects exactly `expected`, then checks appending and reopening work.
    static func expectLog(
        _ built: Built, _ expected: [Entry], firstIndex: UInt64 = 1, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let store = try FileLogStore(directory: built.directory, segmentSize: built.segmentSize)
        #expect(store.firstIndex == firstIndex, sourceLocation: sourceLocation)
        #expect(store.lastIndex == firstIndex - 1 + UInt64(expected.count), sourceLocation: sourceLocation)
        #expect(try store.allEntries() == expected, sourceLocation: sourceLocation)
        let next = store.lastIndex + 1
        let more = Support.entries(next...(next + 1), term: 99, size: 7)
        try store.append(more)
        store.close()
        let reopened = try FileLogStore(directory: built.directory, segmentSize: built.segmentSize)
        defer { reopened.close() }
        #expect(try reopened.allEntries() == expected + more, sourceLocation: sourceLocation)
        let names = try FileSystem.list(built.directory)
        #expect(!names.contains { $0.hasSuffix(".tmp") }, sourceLocation: sourceLocation)
    }

    /// Expects opening to fail with `code` naming `path` (and `offset`), leaving the files untouched.
    static func expectFailure(
        _ built: Built, _ code: StorageError.Code, path: String, offset: Int? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let before = try Support.image(built.directory)
        let error = Support.expectError(code, sourceLocation: sourceLocation) {
            _ = try FileLogStore(directory: built.directory, segmentSize: built.segmentSize)
        }
        #expect(error?.path == path, sourceLocation: sourceLocation)
        if let offset { #expect(error?.offset == offset, "\(String(describing: error))", sourceLocation: sourceLocation) }
        #expect(try Support.image(built.directory) == before, "a failed open changed the files", sourceLocation: sourceLocation)
    }

    static func flip(_ image: [String: [UInt8]], _ segment: String, at offset: Int, bit: Int) -> [String: [UInt8]] {
        var image = image
        image[segment]![offset] ^= UInt8(1) << UInt8(bit)
        return image
    }

    @Test("A tear at every byte of the last batch leaves exactly the batches before it", arguments: Layout.allCases)
    func tornLastBatch(layout: Layout) throws {
        let temporary = TemporaryDirectory("rafty-wal-crash")
        defer { temporary.remove() }
        let built = try Self.build(temporary.path, layout)
        let last = built.last
        for cut in last.start..<last.end {
            var image = built.image
            image[last.segment] = Array(image[last.segment]![..<cut])
            try Support.restore(built.directory, image)
            try Self.expectLog(built, built.entriesBeforeLast)
        }
        // The untouched WAL has everything.
        try Support.restore(built.directory, built.image)
        try Self.expectLog(built, built.entries)
    }

    @Test("A flipped bit at every byte of the last batch leaves exactly the batches before it", arguments: Layout.allCases)
    func corruptLastBatch(layout: Layout) throws {
        let temporary = TemporaryDirectory("rafty-wal-crash")
        defer { temporary.remove() }
        let built = try Self.build(temporary.path, layout)
        let last = built.last
        var flips = (last.start..<last.end).map { ($0, $0 % 8) }
        // Every bit of the batch header.
        flips += (last.start..<(last.start + WALFormat.batchHeaderSize)).flatMap { offset in (0..<8).map { (offset, $0) } }
        for (offset, bit) in flips {
            try Support.restore(built.directory, Self.flip(built.image, last.segment, at: offset, bit: bit))
            try Self.expectLog(built, built.entriesBeforeLast)
        }
        // Zeros where the last batch was (a file extended but never written).
        var image = built.image
        image[last.segment]!.replaceSubrange(last.start..<last.end, with: repeatElement(0, count: last.end - last.start))
        try Support.restore(built.directory, image)
        try Self.expectLog(built, built.entriesBeforeLast)
    }

    @Test("A flipped bit in an earlier batch is corruption: the file and offset are named, nothing deleted", arguments: Layout.allCases)
    func corruptEarlierBatch(layout: Layout) throws {
        let temporary = TemporaryDirectory("rafty-wal-crash")
        defer { temporary.remove() }
        let built = try Self.build(temporary.path, layout)
        for location in built.locations.dropLast() {
            let path = built.directory + "/" + location.segment
            for offset in Set([
                location.start, location.start + 5, location.start + 15, location.start + 16, (location.start + location.end) / 2, location.end - 1,
            ]) {
                try Support.restore(built.directory, Self.flip(built.image, location.segment, at: offset, bit: offset % 8))
                try Self.expectFailure(built, .corrupted, path: path, offset: location.start)
            }
            // A batch cut short before others (in its segment or the next) is corruption too.
            var image = built.image
            if location.segment == built.last.segment {
                image[location.segment]!.removeSubrange((location.end - 3)..<location.end)
            } else {
                image[location.segment] = Array(image[location.segment]![..<(location.end - 3)])
            }
            try Support.restore(built.directory, image)
            Support.expectError(.corrupted) { _ = try FileLogStore(directory: built.directory, segmentSize: built.segmentSize) }
        }
    }

    @Test("Damaged segment headers, unknown versions, gaps and a bad compaction file give clear errors")
    func badHeaders() throws {
        let temporary = TemporaryDirectory("rafty-wal-crash")
        defer { temporary.remove() }
        let built = try Self.build(temporary.path, .sharedLastSegment)
        let names = built.segmentNames
        let firstPath = built.directory + "/" + names[0]
        let lastPath = built.directory + "/" + names.last!

        // An unknown version (with a valid checksum) in any segment.
        for name in [names[0], names.last!] {
            var image = built.image
            var header = BinaryWriter()
            header.write(WALFormat.segmentMagic)
            header.write(UInt32(2))
            header.write(WALFormat.parseSegmentName(name)!)
            header.write(CRC32C.checksum(header.bytes))
            image[name]!.replaceSubrange(0..<WALFormat.segmentHeaderSize, with: header.bytes)
            try Support.restore(built.directory, image)
            let error = Support.expectError(.unsupportedVersion) {
                _ = try FileLogStore(directory: built.directory, segmentSize: built.segmentSize)
            }
            #expect(error?.path == built.directory + "/" + name)
        }

        // A flipped bit in a header of a segment holding batches, even the last one.
        for (name, offset) in [(names[0], 0), (names[0], 10), (names.last!, 17)] {
            try Support.restore(built.directory, Self.flip(built.image, name, at: offset, bit: 3))
            try Self.expectFailure(built, .corrupted, path: built.directory + "/" + name, offset: 0)
        }

        // A header whose first index disagrees with the file name.
        var image = built.image
        image[names[1]]!.replaceSubrange(0..<WALFormat.segmentHeaderSize, with: WALFormat.segmentHeader(firstIndex: 1000))
        try Support.restore(built.directory, image)
        try Self.expectFailure(built, .corrupted, path: built.directory + "/" + names[1], offset: 0)

        // A missing segment in the middle, or at the start.
        image = built.image
        image[names[1]] = nil
        try Support.restore(built.directory, image)
        try Self.expectFailure(built, .corrupted, path: built.directory + "/" + names[2], offset: 0)
        image = built.image
        image[names[0]] = nil
        try Support.restore(built.directory, image)
        Support.expectError(.corrupted) { _ = try FileLogStore(directory: built.directory, segmentSize: built.segmentSize) }

        // A torn header in a segment that is not the last.
        image = built.image
        image[names[0]] = Array(image[names[0]]![..<10])
        try Support.restore(built.directory, image)
        try Self.expectFailure(built, .corrupted, path: firstPath, offset: 0)

        // A damaged compaction point file.
        image = built.image
        var compacted = WALFormat.compactedFile(index: 3)
        compacted[9] ^= 1
        image[WALFormat.compactedName] = compacted
        try Support.restore(built.directory, image)
        try Self.expectFailure(built, .corrupted, path: built.directory + "/" + WALFormat.compactedName)
        _ = lastPath
    }

    @Test("A last segment torn while being created is removed", arguments: [0, 1, 10, 19, 20])
    func tornNewSegment(length: Int) throws {
        let temporary = TemporaryDirectory("rafty-wal-crash")
        defer { temporary.remove() }
        let built = try Self.build(temporary.path, .sharedLastSegment)
        let next = UInt64(built.entries.count + 1)
        var image = built.image
        var header = WALFormat.segmentHeader(firstIndex: next)
        if length == 20 { header[18] ^= 0x40 }  // complete but failing its checksum
        image[WALFormat.segmentName(next)] = Array(header[..<length])
        try Support.restore(built.directory, image)
        try Self.expectLog(built, built.entries)
        // An intact but empty new segment is kept and appended to.
        image = built.image
        image[WALFormat.segmentName(next)] = WALFormat.segmentHeader(firstIndex: next)
        try Support.restore(built.directory, image)
        try Self.expectLog(built, built.entries)
    }

    @Test("Leftover temporary files from interrupted segment creation, truncation or compaction are harmless")
    func leftoverTemporaryFiles() throws {
        let temporary = TemporaryDirectory("rafty-wal-crash")
        defer { temporary.remove() }
        let built = try Self.build(temporary.path, .sharedLastSegment)
        let next = UInt64(built.entries.count + 1)
        var image = built.image
        image[WALFormat.segmentName(next) + ".tmp"] = Array(WALFormat.segmentHeader(firstIndex: next)[..<7])
        image[built.segmentNames[1] + ".tmp"] = Array(built.image[built.segmentNames[1]]![..<50])
        image[WALFormat.compactedName + ".tmp"] = [1, 2, 3]
        try Support.restore(built.directory, image)
        try Self.expectLog(built, built.entries)
    }

    @Test("A crash at any step of truncateSuffix leaves a prefix of the old log")
    func crashDuringTruncate() throws {
        let temporary = TemporaryDirectory("rafty-wal-crash")
        defer { temporary.remove() }
        let built = try Self.build(temporary.path, .sharedLastSegment)
        let names = built.segmentNames
        #expect(names.count >= 3)
        let all = built.entries
        // Cut in the middle of the second segment (mid-batch when it has more than one entry).
        let first = WALFormat.parseSegmentName(names[1])!
        let following = WALFormat.parseSegmentName(names[2])!
        let index = first + (following - first) / 2
        #expect(index > first)

        // The real operation, to learn the rewritten segment.
        do {
            let store = try FileLogStore(directory: built.directory, segmentSize: built.segmentSize)
            try store.truncateSuffix(from: index)
            #expect(try store.allEntries() == Array(all[..<Int(index - 1)]))
            store.close()
        }
        let finalImage = try Support.image(built.directory)
        #expect(finalImage.keys.sorted() == Array(names[0...1]))
        let rewritten = finalImage[names[1]]!

        var states: [(String, [String: [UInt8]], [Entry])] = []
        // Later segments deleted newest first: any number of them gone.
        var image = built.image
        for name in names[2...].reversed() {
            image[name] = nil
            let end = Int(WALFormat.parseSegmentName(name)! - 1)
            states.append(("deleted \(name)", image, Array(all[..<end])))
        }
        let untilSecond = Array(all[..<Int(following - 1)])
        // The rewrite in a temporary file, partly or completely written.
        for length in [0, 10, rewritten.count / 2, rewritten.count] {
            var withTemporary = image
            withTemporary[names[1] + ".tmp"] = Array(rewritten[..<length])
            states.append(("temporary of \(length) bytes", withTemporary, untilSecond))
        }
        // Renamed over: the operation is complete.
        image[names[1]] = rewritten
        states.append(("renamed", image, Array(all[..<Int(index - 1)])))

        for (label, state, expected) in states {
            try Support.restore(built.directory, state)
            #expect(all.starts(with: expected), "\(label)")
            try Self.expectLog(built, expected)
        }
    }

    @Test("A crash after persisting the compaction point but before deleting segments", arguments: [false, true])
    func crashDuringCompaction(beyondLast: Bool) throws {
        let temporary = TemporaryDirectory("rafty-wal-crash")
        defer { temporary.remove() }
        let built = try Self.build(temporary.path, .sharedLastSegment)
        let all = built.entries
        let point = beyondLast ? UInt64(all.count + 5) : UInt64(all.count - 3)
        var image = built.image
        image[WALFormat.compactedName] = WALFormat.compactedFile(index: point)
        try Support.restore(built.directory, image)
        let expected = beyondLast ? [] : Array(all[Int(point)...])
        try Self.expectLog(built, expected, firstIndex: point + 1)
        // Segments wholly below the compaction point are gone.
        for name in try Support.segmentNames(built.directory) {
            #expect(WALFormat.parseSegmentName(name)! <= point + 1 || !beyondLast)
        }
        let names = try Support.segmentNames(built.directory)
        #expect(names.count <= (beyondLast ? 1 : 2))

        // Some of the deletions done (oldest first) before the crash.
        if !beyondLast {
            image = built.image
            image[WALFormat.compactedName] = WALFormat.compactedFile(index: point)
            image[built.segmentNames[0]] = nil
            try Support.restore(built.directory, image)
            try Self.expectLog(built, expected, firstIndex: point + 1)
        }
    }
}
