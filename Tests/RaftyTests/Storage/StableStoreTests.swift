import RaftCore
import RaftyTestSupport
import Testing

@testable import Rafty

#if canImport(Glibc)
    import Glibc
#endif

@Suite("StableStore")
struct StableStoreTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case memory
        case file

        var testDescription: String { self.rawValue }
    }

    static let sample = StableState(
        nodeID: 7,
        hardState: HardState(term: 42, vote: 3, commit: 1_000),
        configuration: ClusterConfiguration(
            voters: [1, 3, 7], learners: [9], addresses: [1: "10.0.0.1:7000", 9: "[::1]:7009"],
            incarnations: [1: 0xDEAD_BEEF, 3: 3, 7: UInt64.max])
    )

    static func expectError(_ code: StorageError.Code, path: String? = nil, _ body: () throws -> Void) {
        #expect {
            try body()
        } throws: { error in
            guard let error = error as? StorageError else { return false }
            return error.code == code && (path == nil || error.path == path)
        }
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        let file = try POSIXFile(path: path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        defer { file.close() }
        try file.write(bytes, at: 0)
    }

    static func read(_ path: String) throws -> [UInt8] {
        let file = try POSIXFile(path: path, flags: O_RDONLY)
        defer { file.close() }
        return try file.readAll()
    }

    @Test("A new store holds the default state; saves round-trip", arguments: Kind.allCases)
    func roundTrip(kind: Kind) throws {
        let directory = TemporaryDirectory("rafty-stable")
        defer { directory.remove() }
        let store: any StableStore = kind == .memory ? InMemoryStableStore() : try FileStableStore(directory: directory.path + "/state")
        #expect(store.state == StableState())
        try store.save(Self.sample)
        #expect(store.state == Self.sample)
        let cleared = StableState(nodeID: nil, hardState: HardState(term: 43), configuration: nil)
        try store.save(cleared)
        #expect(store.state == cleared)
        let emptyConfiguration = StableState(nodeID: 1, hardState: HardState(term: 1, vote: 0, commit: 0), configuration: ClusterConfiguration())
        try store.save(emptyConfiguration)
        #expect(store.state == emptyConfiguration)
    }

    @Test("File store: the state survives reopening, and optional fields stay distinct from zero")
    func reopen() throws {
        let directory = TemporaryDirectory("rafty-stable")
        defer { directory.remove() }
        try FileStableStore(directory: directory.path).save(Self.sample)
        #expect(try FileStableStore(directory: directory.path).state == Self.sample)
        let zeros = StableState(nodeID: 0, hardState: HardState(term: 0, vote: 0, commit: 0), configuration: ClusterConfiguration())
        try FileStableStore(directory: directory.path).save(zeros)
        #expect(try FileStableStore(directory: directory.path).state == zeros)
        try FileStableStore(directory: directory.path).save(StableState())
        #expect(try FileStableStore(directory: directory.path).state == StableState())
        #expect(try FileSystem.list(directory.path) == ["meta"])
    }

    @Test("A crash between writing meta.tmp and renaming keeps the old state; the temp file is removed")
    func crashBeforeRename() throws {
        let directory = TemporaryDirectory("rafty-stable")
        defer { directory.remove() }
        try FileStableStore(directory: directory.path).save(Self.sample)
        let newer = StableState(nodeID: 7, hardState: HardState(term: 50, vote: nil, commit: 1_200), configuration: nil)
        let complete = FileStableStore.encode(newer)
        // A complete but never-renamed temp file, a partial one, and an empty one.
        for stray in [complete, Array(complete.prefix(complete.count / 2)), []] {
            try Self.write(stray, to: directory.path + "/meta.tmp")
            let reopened = try FileStableStore(directory: directory.path)
            #expect(reopened.state == Self.sample)
            #expect(!FileSystem.exists(directory.path + "/meta.tmp"))
        }
        // A crash before the first save ever completed: only a temp file, so the default state.
        let fresh = TemporaryDirectory("rafty-stable")
        defer { fresh.remove() }
        try Self.write(Array(complete.prefix(10)), to: fresh.path + "/meta.tmp")
        #expect(try FileStableStore(directory: fresh.path).state == StableState())
    }

    @Test("A meta file truncated at any byte offset is reported as corrupted, naming the file")
    func truncation() throws {
        let directory = TemporaryDirectory("rafty-stable")
        defer { directory.remove() }
        let meta = directory.path + "/meta"
        try FileStableStore(directory: directory.path).save(Self.sample)
        let bytes = try Self.read(meta)
        for length in 0..<bytes.count {
            try Self.write(Array(bytes.prefix(length)), to: meta)
            Self.expectError(.corrupted, path: meta) { _ = try FileStableStore(directory: directory.path) }
        }
        // Nothing was silently reset: the damaged file is still there.
        #expect(FileSystem.exists(meta))
    }

    @Test("Flipping any bit of the meta file is reported as corrupted, naming the file")
    func bitFlips() throws {
        let directory = TemporaryDirectory("rafty-stable")
        defer { directory.remove() }
        let meta = directory.path + "/meta"
        try FileStableStore(directory: directory.path).save(Self.sample)
        let bytes = try Self.read(meta)
        for bit in 0..<(bytes.count * 8) {
            var damaged = bytes
            damaged[bit / 8] ^= 1 << UInt8(bit % 8)
            try Self.write(damaged, to: meta)
            Self.expectError(.corrupted, path: meta) { _ = try FileStableStore(directory: directory.path) }
        }
        // Trailing garbage is damage too.
        try Self.write(bytes + [0], to: meta)
        Self.expectError(.corrupted, path: meta) { _ = try FileStableStore(directory: directory.path) }
    }

    @Test("An intact meta file of an unknown format version is refused as unsupported")
    func unknownVersion() throws {
        let directory = TemporaryDirectory("rafty-stable")
        defer { directory.remove() }
        let meta = directory.path + "/meta"
        try Self.write(FileStableStore.encode(Self.sample, version: StableState.formatVersion + 1), to: meta)
        Self.expectError(.unsupportedVersion, path: meta) { _ = try FileStableStore(directory: directory.path) }
    }

    @Test("Meta files of older format versions are still read: version 2 without incarnations, version 1 without addresses either")
    func olderVersions() throws {
        let directory = TemporaryDirectory("rafty-stable")
        defer { directory.remove() }
        let meta = directory.path + "/meta"
        var expected = Self.sample
        expected.configuration!.incarnations = [:]
        try Self.write(FileStableStore.encode(Self.sample, version: 2), to: meta)
        #expect(try FileStableStore(directory: directory.path).state == expected)
        expected.configuration!.addresses = [:]
        try Self.write(FileStableStore.encode(Self.sample, version: 1), to: meta)
        #expect(try FileStableStore(directory: directory.path).state == expected)
    }
}
