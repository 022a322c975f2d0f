import RaftCore
import RaftyTestSupport
import Testing

@testable import Rafty

#if canImport(Glibc)
    import Glibc
#endif

@Suite("SnapshotStore")
struct SnapshotStoreTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case memory
        case file

        var testDescription: String { self.rawValue }
    }

    /// A store plus a way to reopen it as a restarted process would.
    final class Harness {
        let kind: Kind
        let directory: TemporaryDirectory
        let retainCount: Int
        private(set) var store: any SnapshotStore

        var path: String { self.directory.path + "/snapshots" }

        init(_ kind: Kind, retainCount: Int = 3) throws {
            self.kind = kind
            self.retainCount = retainCount
            self.directory = TemporaryDirectory("rafty-snapshot")
            switch kind {
            case .memory: self.store = try InMemorySnapshotStore(retainCount: retainCount)
            case .file: self.store = try FileSnapshotStore(directory: self.directory.path + "/snapshots", retainCount: retainCount)
            }
        }

        /// Reopens the file store (a no-op for the in-memory one).
        func reopen() throws {
            guard self.kind == .file else { return }
            self.store = try FileSnapshotStore(directory: self.path, retainCount: self.retainCount)
        }

        deinit { self.directory.remove() }
    }

    static let configuration = ClusterConfiguration(
        voters: [1, 2, 3], learners: [4], addresses: [1: "a:1", 4: "d:4"], incarnations: [1: 11, 2: 22, 3: UInt64.max])

    static func metadata(index: UInt64, term: UInt64) -> SnapshotMetadata {
        SnapshotMetadata(index: index, term: term, configuration: Self.configuration)
    }

    static func bytes(_ count: Int, seed: Int = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 31 &+ seed &* 7 &+ $0 / 251)) }
    }

    @discardableResult
    static func commit(_ store: any SnapshotStore, index: UInt64, term: UInt64, bytes: [UInt8], chunk: Int = 1000) throws -> StoredSnapshot {
        let writer = try store.makeWriter(for: Self.metadata(index: index, term: term))
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + chunk)
            try writer.write(Array(bytes[offset..<end]))
            offset = end
        }
        return try writer.commit()
    }

    static func expectError(_ code: StorageError.Code, _ body: () throws -> Void) {
        #expect {
            try body()
        } throws: { error in
            (error as? StorageError)?.code == code
        }
    }

    static func indexes(_ store: any SnapshotStore) throws -> [UInt64] { try store.list().map(\.metadata.index) }

    /// Names in the file store's directory (empty for the in-memory one).
    static func names(_ harness: Harness) throws -> [String] {
        harness.kind == .file ? try FileSystem.list(harness.path) : []
    }

    @Test("Streaming write in chunks, commit, then open and read back the same bytes", arguments: Kind.allCases)
    func roundTrip(kind: Kind) throws {
        let harness = try Harness(kind)
        let data = Self.bytes(100_000)
        let snapshot = try Self.commit(harness.store, index: 10, term: 2, bytes: data, chunk: 4_096)
        #expect(snapshot.metadata == Self.metadata(index: 10, term: 2))
        #expect(snapshot.size == data.count)
        #expect(snapshot.checksum == CRC32C.checksum(data))
        #expect(try harness.store.list() == [snapshot])
        #expect(try harness.store.open(snapshot).readAll(chunkSize: 777) == data)
        #expect(try harness.store.openNewest()?.readAll() == data)
        try harness.reopen()
        #expect(try harness.store.list() == [snapshot])
        let reader = try harness.store.open(snapshot)
        #expect(reader.snapshot == snapshot)
        #expect(try reader.readAll(chunkSize: 1).count == data.count)
        #expect(try reader.read(maxBytes: 10) == [])
    }

    @Test("An empty snapshot round-trips", arguments: Kind.allCases)
    func empty(kind: Kind) throws {
        let harness = try Harness(kind)
        let snapshot = try Self.commit(harness.store, index: 1, term: 1, bytes: [])
        try harness.reopen()
        #expect(try harness.store.list() == [snapshot])
        #expect(try harness.store.open(snapshot).readAll() == [])
    }

    @Test("List is newest first by index then term, not by name; only the newest N are retained", arguments: Kind.allCases)
    func orderAndRetain(kind: Kind) throws {
        let harness = try Harness(kind, retainCount: 3)
        let store = harness.store
        try Self.commit(store, index: 10, term: 1, bytes: [10])
        try Self.commit(store, index: 9, term: 2, bytes: [9])  // name "2-9" sorts after "1-10"
        #expect(try Self.indexes(store) == [10, 9])
        try Self.commit(store, index: 100, term: 1, bytes: [100])
        #expect(try Self.indexes(store) == [100, 10, 9])
        // Same index, higher term is newer.
        try Self.commit(store, index: 10, term: 3, bytes: [13])
        #expect(try store.list().map { [$0.metadata.index, $0.metadata.term] } == [[100, 1], [10, 3], [10, 1]])
        try Self.commit(store, index: 5, term: 9, bytes: [5])  // older than all kept: pruned at once
        #expect(try store.list().map { [$0.metadata.index, $0.metadata.term] } == [[100, 1], [10, 3], [10, 1]])
        try harness.reopen()
        #expect(try harness.store.list().map { [$0.metadata.index, $0.metadata.term] } == [[100, 1], [10, 3], [10, 1]])
        if kind == .file { #expect(try Self.names(harness) == ["1-10", "1-100", "3-10"]) }
        try harness.store.retain(newest: 1)
        #expect(try Self.indexes(harness.store) == [100])
        try harness.reopen()
        #expect(try Self.indexes(harness.store) == [100])
        #expect(try harness.store.openNewest()?.readAll() == [100])
        if kind == .file { #expect(try Self.names(harness) == ["1-100"]) }
    }

    @Test("Committing the same index and term again replaces the snapshot", arguments: Kind.allCases)
    func replaceSame(kind: Kind) throws {
        let harness = try Harness(kind)
        try Self.commit(harness.store, index: 4, term: 1, bytes: [1, 2, 3])
        let second = try Self.commit(harness.store, index: 4, term: 1, bytes: [4, 5])
        try harness.reopen()
        #expect(try harness.store.list() == [second])
        #expect(try harness.store.open(second).readAll() == [4, 5])
        if kind == .file { #expect(try Self.names(harness) == ["1-4"]) }
    }

    @Test("An invalid retain count is rejected", arguments: Kind.allCases)
    func invalidRetainCount(kind: Kind) throws {
        let directory = TemporaryDirectory("rafty-snapshot")
        defer { directory.remove() }
        for count in [0, -1] {
            Self.expectError(.invalidArgument) {
                switch kind {
                case .memory: _ = try InMemorySnapshotStore(retainCount: count)
                case .file: _ = try FileSnapshotStore(directory: directory.path, retainCount: count)
                }
            }
        }
        let harness = try Harness(kind)
        Self.expectError(.invalidArgument) { try harness.store.retain(newest: -1) }
    }

    @Test("An uncommitted, aborted or released writer leaves nothing visible", arguments: Kind.allCases)
    func uncommitted(kind: Kind) throws {
        let harness = try Harness(kind)
        let kept = try Self.commit(harness.store, index: 1, term: 1, bytes: [1])
        let open = try harness.store.makeWriter(for: Self.metadata(index: 5, term: 1))
        try open.write(Self.bytes(5000))
        #expect(try harness.store.list() == [kept])

        let aborted = try harness.store.makeWriter(for: Self.metadata(index: 6, term: 1))
        try aborted.write([1, 2, 3])
        aborted.abort()
        Self.expectError(.closed) { try aborted.write([4]) }
        Self.expectError(.closed) { _ = try aborted.commit() }
        #expect(try harness.store.list() == [kept])

        do {
            let dropped = try harness.store.makeWriter(for: Self.metadata(index: 7, term: 1))
            try dropped.write([1])
        }
        #expect(try harness.store.list() == [kept])
        if kind == .file {
            // Only the still-open writer's temporary directory remains.
            #expect(try Self.names(harness).filter { $0.hasPrefix(".tmp-") }.count == 1)
        }
        try harness.reopen()
        #expect(try harness.store.list() == [kept])
        #expect(try Self.names(harness) == (kind == .file ? ["1-1"] : []))
        withExtendedLifetime(open) {}
    }

    @Test("File store: a crash before the rename leaves a temp dir that is ignored and removed on open")
    func crashBeforeRename() throws {
        let harness = try Harness(.file)
        let kept = try Self.commit(harness.store, index: 3, term: 1, bytes: [3])
        // Simulate a crash after writing everything but before the rename: build a complete
        // temp dir by hand, plus an empty one and one with only part of the data.
        let complete = harness.path + "/.tmp-1-8-1-0"
        try FileSystem.makeDirectory(complete)
        try Self.writeFile(complete + "/data", [1, 2, 3])
        let snapshot = StoredSnapshot(metadata: Self.metadata(index: 8, term: 1), size: 3, checksum: CRC32C.checksum([1, 2, 3] as [UInt8]))
        try Self.writeFile(complete + "/meta", FileSnapshotStore.encodeMeta(snapshot))
        try FileSystem.makeDirectory(harness.path + "/.tmp-1-9-1-1")
        try FileSystem.makeDirectory(harness.path + "/.tmp-1-9-1-2")
        try Self.writeFile(harness.path + "/.tmp-1-9-1-2/data", [9])
        try harness.reopen()
        #expect(try harness.store.list() == [kept])
        #expect(try Self.names(harness) == ["1-3"])
    }

    @Test("A damaged data file is reported as corrupted at the end of reading", arguments: Kind.allCases)
    func damagedData(kind: Kind) throws {
        let harness = try Harness(kind)
        let data = Self.bytes(10_000)
        let snapshot = try Self.commit(harness.store, index: 2, term: 1, bytes: data)
        let damages: [(String, (inout [UInt8]) -> Void)] = [
            ("bit flip", { $0[5_000] ^= 0x10 }),
            ("truncated", { $0.removeLast(1) }),
            ("extended", { $0.append(0) }),
            ("emptied", { $0 = [] }),
        ]
        for (name, damage) in damages {
            try Self.damage(harness, snapshot, original: data, damage)
            let reader = try harness.store.open(snapshot)
            var read = 0
            var failure: StorageError?
            while true {
                do {
                    let chunk = try reader.read(maxBytes: 1_000)
                    if chunk.isEmpty { break }
                    read += chunk.count
                } catch {
                    failure = error
                    break
                }
            }
            #expect(failure?.code == .corrupted, "\(name)")
            // A bit flip is only noticed once every byte has been read.
            if name == "bit flip" { #expect(read == data.count) }
            if kind == .file { #expect(failure?.path == harness.path + "/1-2/data") }
            // The failure sticks.
            Self.expectError(.corrupted) { _ = try reader.read(maxBytes: 10) }
        }
        // Damaged data does not hide the snapshot (it is not silently dropped).
        try harness.reopen()
        #expect(try harness.store.list() == [snapshot])
    }

    @Test("File store: a snapshot whose meta is damaged or missing is not listed, before or after reopening")
    func damagedMeta() throws {
        let harness = try Harness(.file, retainCount: 10)
        let good = try Self.commit(harness.store, index: 1, term: 1, bytes: [1])
        try Self.commit(harness.store, index: 2, term: 1, bytes: [2])
        try Self.commit(harness.store, index: 3, term: 1, bytes: [3])
        try Self.commit(harness.store, index: 4, term: 1, bytes: [4])
        let meta = try Self.readFile(harness.path + "/1-2/meta")
        var flipped = meta
        flipped[12] ^= 1
        try Self.writeFile(harness.path + "/1-2/meta", flipped)
        try Self.writeFile(harness.path + "/1-3/meta", Array(meta.prefix(meta.count - 1)))
        try FileSystem.removeFile(harness.path + "/1-4/meta")
        // A valid meta under the wrong name is not trusted either.
        try FileSystem.makeDirectory(harness.path + "/1-5")
        try Self.writeFile(harness.path + "/1-5/meta", meta)
        try Self.writeFile(harness.path + "/1-5/data", [2])
        try harness.reopen()
        #expect(try harness.store.list() == [good])
        try harness.reopen()
        #expect(try harness.store.list() == [good])
        // Truncation at every offset and every bit flip of a meta hides the snapshot.
        for length in 0..<meta.count {
            try Self.writeFile(harness.path + "/1-2/meta", Array(meta.prefix(length)))
            try harness.reopen()
            #expect(try harness.store.list() == [good])
        }
        for bit in 0..<(meta.count * 8) {
            var damaged = meta
            damaged[bit / 8] ^= 1 << UInt8(bit % 8)
            try Self.writeFile(harness.path + "/1-2/meta", damaged)
            try harness.reopen()
            #expect(try harness.store.list() == [good])
        }
        try Self.writeFile(harness.path + "/1-2/meta", meta)
        try harness.reopen()
        #expect(try Self.indexes(harness.store) == [2, 1])
    }

    @Test("File store: an intact meta of an unknown format version is refused as unsupported")
    func unknownVersion() throws {
        let harness = try Harness(.file)
        let snapshot = try Self.commit(harness.store, index: 1, term: 1, bytes: [1])
        try Self.writeFile(harness.path + "/1-1/meta", FileSnapshotStore.encodeMeta(snapshot, version: FileSnapshotStore.formatVersion + 1))
        Self.expectError(.unsupportedVersion) { try harness.reopen() }
    }

    @Test("File store: metas of format versions 2 (no incarnations) and 1 (no addresses either) are still read")
    func olderVersions() throws {
        let harness = try Harness(.file)
        let snapshot = try Self.commit(harness.store, index: 1, term: 1, bytes: [1])
        #expect(try harness.store.list().first?.metadata.configuration == Self.configuration)
        var expected = snapshot
        expected.metadata.configuration.incarnations = [:]
        try Self.writeFile(harness.path + "/1-1/meta", FileSnapshotStore.encodeMeta(snapshot, version: 2))
        try harness.reopen()
        #expect(try harness.store.list() == [expected])
        expected.metadata.configuration.addresses = [:]
        try Self.writeFile(harness.path + "/1-1/meta", FileSnapshotStore.encodeMeta(snapshot, version: 1))
        try harness.reopen()
        #expect(try harness.store.list() == [expected])
    }

    @Test("Opening a snapshot that is not stored fails with notFound", arguments: Kind.allCases)
    func openMissing(kind: Kind) throws {
        let harness = try Harness(kind, retainCount: 1)
        let old = try Self.commit(harness.store, index: 1, term: 1, bytes: [1])
        let reader = try harness.store.open(old)
        try Self.commit(harness.store, index: 2, term: 1, bytes: [2])
        Self.expectError(.notFound) { _ = try harness.store.open(old) }
        // A reader opened before the prune still reads its snapshot.
        #expect(try reader.readAll() == [1])
        #expect(try harness.store.openNewest()?.readAll() == [2])
    }

    // MARK: - Helpers

    static func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        let file = try POSIXFile(path: path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        defer { file.close() }
        try file.write(bytes, at: 0)
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let file = try POSIXFile(path: path, flags: O_RDONLY)
        defer { file.close() }
        return try file.readAll()
    }

    /// Replaces a committed snapshot's stored bytes with a damaged copy of `original`.
    static func damage(_ harness: Harness, _ snapshot: StoredSnapshot, original: [UInt8], _ change: (inout [UInt8]) -> Void) throws {
        var damaged = original
        change(&damaged)
        switch harness.kind {
        case .memory:
            (harness.store as! InMemorySnapshotStore).damage(snapshot) { $0 = damaged }
        case .file:
            try Self.writeFile(harness.path + "/\(snapshot.metadata.term)-\(snapshot.metadata.index)/data", damaged)
        }
    }
}
