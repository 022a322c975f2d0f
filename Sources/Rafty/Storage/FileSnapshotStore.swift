public import RaftCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A ``SnapshotStore`` keeping each snapshot in its own directory, `<directory>/<term>-<index>/`,
/// holding two files:
///
/// - `data`: the snapshot bytes, as written.
/// - `meta` (little-endian): magic `RFSN` (4), format version (4, ``formatVersion``), index (8),
///   term (8), data size (8), CRC-32C of `data` (4), configuration (voter count + ids, learner
///   count + ids, from version 2 address count + (id, length-prefixed UTF-8), from version 3
///   incarnation count + (id, incarnation)), then a CRC-32C (4) over every preceding byte of `meta`. The checksum is always
///   the last four bytes, whatever the version.
///
/// A writer streams into a temporary directory, `<directory>/.tmp-…`, computing size and checksum
/// as it goes. ``SnapshotWriter/commit()`` writes `meta`, fsyncs both files and the temporary
/// directory, renames it to its final name and fsyncs the parent, so a snapshot directory under a
/// final name is always complete. Opening removes leftover temporary directories and ignores (and
/// never uses) any snapshot directory whose `meta` is missing or damaged, or whose name does not
/// match its `meta`; only disk damage can produce one. A `meta` of an unknown format version with a
/// valid checksum fails opening with ``StorageError/Code/unsupportedVersion``.
///
/// Snapshots are ordered newest first by index, then term (never by name), and only the newest
/// `retainCount` are kept after each commit and on open.
public final class FileSnapshotStore: SnapshotStore {
    /// The version of the `meta` format this build writes (2: the configuration carries member
    /// addresses; 3: and their data-directory incarnations); versions 1 and 2 are still read.
    public static let formatVersion: UInt32 = 3

    /// The directory holding the snapshots.
    public let directory: String
    /// How many snapshots are kept after each commit.
    public let retainCount: Int

    private struct State {
        var snapshots: [StoredSnapshot]
        var nextTemporary: UInt64 = 0
    }

    private let state: Mutex<State>
    private let temporaryTag = UInt32.random(in: 0...UInt32.max)

    static let magic: [UInt8] = Array("RFSN".utf8)
    static let temporaryPrefix = ".tmp-"

    /// Opens (creating the directory if needed) the store in `directory`, keeping the newest
    /// `retainCount` snapshots.
    ///
    /// - Throws: ``StorageError/Code/invalidArgument`` if `retainCount < 1`,
    ///   ``StorageError/Code/unsupportedVersion`` for a snapshot of an unknown format version,
    ///   ``StorageError/Code/io`` if a system call fails.
    public init(directory: String, retainCount: Int = 3) throws(StorageError) {
        guard retainCount >= 1 else {
            throw StorageError(.invalidArgument, "retainCount must be at least 1, not \(retainCount)")
        }
        self.directory = directory
        self.retainCount = retainCount
        try FileSystem.makeDirectory(directory)
        var snapshots: [StoredSnapshot] = []
        var removed = false
        for name in try FileSystem.list(directory) {
            let path = directory + "/" + name
            if name.hasPrefix(Self.temporaryPrefix) {
                try FileSystem.removeTree(path)
                removed = true
                continue
            }
            guard let (term, index) = Self.parseName(name), FileSystem.isDirectory(path),
                let snapshot = try Self.readMeta(path + "/meta"),
                snapshot.metadata.term == term, snapshot.metadata.index == index
            else { continue }
            snapshots.append(snapshot)
        }
        if removed { try FileSystem.syncDirectory(directory) }
        snapshots.sort(by: newestFirst)
        self.state = Mutex(State(snapshots: snapshots))
        try self.retain(newest: retainCount)
    }

    /// Starts a snapshot for `metadata` in a new temporary directory.
    public func makeWriter(for metadata: SnapshotMetadata) throws(StorageError) -> any SnapshotWriter {
        let number = self.state.withLock { state in
            defer { state.nextTemporary += 1 }
            return state.nextTemporary
        }
        let path = "\(self.directory)/\(Self.temporaryPrefix)\(Self.name(of: metadata))-\(self.temporaryTag)-\(number)"
        return try FileSnapshotWriter(store: self, metadata: metadata, temporaryPath: path)
    }

    /// Committed snapshots, newest (highest index, then term) first.
    public func list() throws(StorageError) -> [StoredSnapshot] {
        self.state.withLock { $0.snapshots }
    }

    /// Opens a committed snapshot for streaming.
    ///
    /// - Throws: ``StorageError/Code/notFound`` if `snapshot` is not (or no longer) stored.
    public func open(_ snapshot: StoredSnapshot) throws(StorageError) -> any SnapshotReader {
        try self.state.withLock { (state: inout State) throws(StorageError) -> FileSnapshotReader in
            guard state.snapshots.contains(snapshot) else {
                throw StorageError(
                    .notFound, "no snapshot at index \(snapshot.metadata.index), term \(snapshot.metadata.term)",
                    path: self.path(of: snapshot.metadata))
            }
            // Opened under the lock so a concurrent prune cannot remove it first; once open, the
            // descriptor stays readable even if the snapshot is pruned.
            let path = self.path(of: snapshot.metadata) + "/data"
            guard FileSystem.exists(path) else {
                throw StorageError(.corrupted, "snapshot data file is missing", path: path, offset: 0)
            }
            return FileSnapshotReader(snapshot: snapshot, file: try POSIXFile(path: path, flags: O_RDONLY))
        }
    }

    /// Deletes all but the newest `count` snapshots.
    ///
    /// Each is first renamed to a temporary name (so a crash mid-deletion leaves nothing
    /// half-deleted under a final name), then removed.
    public func retain(newest count: Int) throws(StorageError) {
        guard count >= 0 else { throw StorageError(.invalidArgument, "cannot retain \(count) snapshots") }
        try self.state.withLock { (state: inout State) throws(StorageError) in
            try self.prune(&state, keeping: count)
        }
    }

    /// Makes the snapshot in `temporaryPath` visible under its final name; called by the writer
    /// once everything in it is durable.
    func install(_ snapshot: StoredSnapshot, from temporaryPath: String) throws(StorageError) {
        try self.state.withLock { (state: inout State) throws(StorageError) in
            let final = self.path(of: snapshot.metadata)
            var replaced: String?
            if FileSystem.exists(final) {
                // The same index and term again: move the old one aside (rename cannot replace a
                // non-empty directory); a crash here leaves the old one under a temporary name.
                let aside = self.temporaryPath(&state, "replaced")
                try FileSystem.rename(final, to: aside)
                replaced = aside
            }
            try FileSystem.rename(temporaryPath, to: final)
            try FileSystem.syncDirectory(self.directory)
            state.snapshots.removeAll { $0.metadata.index == snapshot.metadata.index && $0.metadata.term == snapshot.metadata.term }
            state.snapshots.append(snapshot)
            state.snapshots.sort(by: newestFirst)
            if let replaced { try? FileSystem.removeTree(replaced) }
            // The snapshot is committed now; a failed prune is retried by the next commit or open.
            try? self.prune(&state, keeping: self.retainCount)
        }
    }

    private func prune(_ state: inout State, keeping count: Int) throws(StorageError) {
        guard state.snapshots.count > count else { return }
        var doomed: [String] = []
        while state.snapshots.count > count {
            let victim = state.snapshots[state.snapshots.count - 1]
            let aside = self.temporaryPath(&state, "deleted")
            try FileSystem.rename(self.path(of: victim.metadata), to: aside)
            state.snapshots.removeLast()
            doomed.append(aside)
        }
        try FileSystem.syncDirectory(self.directory)
        for path in doomed { try FileSystem.removeTree(path) }
    }

    private func temporaryPath(_ state: inout State, _ kind: String) -> String {
        defer { state.nextTemporary += 1 }
        return "\(self.directory)/\(Self.temporaryPrefix)\(kind)-\(self.temporaryTag)-\(state.nextTemporary)"
    }

    private func path(of metadata: SnapshotMetadata) -> String { self.directory + "/" + Self.name(of: metadata) }

    static func name(of metadata: SnapshotMetadata) -> String { "\(metadata.term)-\(metadata.index)" }

    /// `<term>-<index>` in canonical decimal, or nil.
    static func parseName(_ name: String) -> (term: UInt64, index: UInt64)? {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let term = UInt64(parts[0]), let index = UInt64(parts[1]),
            "\(term)-\(index)" == name
        else { return nil }
        return (term, index)
    }

    /// The bytes of a `meta` file (`version` is overridable for tests).
    static func encodeMeta(_ snapshot: StoredSnapshot, version: UInt32 = FileSnapshotStore.formatVersion) -> [UInt8] {
        var writer = BinaryWriter(capacity: 64)
        writer.bytes.append(contentsOf: Self.magic)
        writer.write(version)
        writer.write(snapshot.metadata.index)
        writer.write(snapshot.metadata.term)
        writer.write(UInt64(snapshot.size))
        writer.write(snapshot.checksum)
        writer.write(snapshot.metadata.configuration, format: ConfigurationFormat(metaVersion: version))
        writer.write(CRC32C.checksum(writer.bytes))
        return writer.bytes
    }

    /// Parses a `meta` file's bytes: nil if damaged.
    static func decodeMeta(_ bytes: [UInt8], path: String) throws(StorageError) -> StoredSnapshot? {
        guard bytes.count >= 4 + 4 + 8 + 8 + 8 + 4 + 4 + 4 + 4 else { return nil }
        let body = bytes.count - 4
        var trailer = BinaryReader(bytes, from: body)
        guard let stored = try? trailer.readUInt32(), CRC32C.checksum(bytes[..<body]) == stored,
            Array(bytes[0..<4]) == Self.magic
        else { return nil }
        var reader = BinaryReader(bytes, from: 4, to: body)
        guard let version = try? reader.readUInt32() else { return nil }
        guard (1...Self.formatVersion).contains(version) else {
            throw StorageError(
                .unsupportedVersion,
                "snapshot format version \(version) is not supported (this build reads \(Self.formatVersion))",
                path: path)
        }
        do {
            let index = try reader.readUInt64()
            let term = try reader.readUInt64()
            let size = try reader.readUInt64()
            let checksum = try reader.readUInt32()
            let configuration = try reader.readConfiguration(.init(metaVersion: version))
            guard reader.isAtEnd, size <= UInt64(Int.max) else { return nil }
            return StoredSnapshot(
                metadata: SnapshotMetadata(index: index, term: term, configuration: configuration),
                size: Int(size), checksum: checksum)
        } catch {
            return nil
        }
    }

    /// Reads a `meta` file: nil if missing or damaged.
    static func readMeta(_ path: String) throws(StorageError) -> StoredSnapshot? {
        guard FileSystem.exists(path) else { return nil }
        let file = try POSIXFile(path: path, flags: O_RDONLY)
        defer { file.close() }
        return try Self.decodeMeta(try file.readAll(), path: path)
    }
}

/// Streams a new snapshot into a temporary directory; see ``FileSnapshotStore``.
final class FileSnapshotWriter: SnapshotWriter {
    private let store: FileSnapshotStore
    private let metadata: SnapshotMetadata
    private let temporaryPath: String
    private var file: POSIXFile?
    private var size = 0
    private var checksum = CRC32C()

    init(store: FileSnapshotStore, metadata: SnapshotMetadata, temporaryPath: String) throws(StorageError) {
        self.store = store
        self.metadata = metadata
        self.temporaryPath = temporaryPath
        guard mkdir(temporaryPath, 0o700) == 0 else {
            throw POSIXFile.error("cannot create snapshot directory", path: temporaryPath)
        }
        do {
            self.file = try POSIXFile(path: temporaryPath + "/data", flags: O_WRONLY | O_CREAT | O_EXCL)
        } catch {
            try? FileSystem.removeTree(temporaryPath)
            throw error
        }
    }

    deinit { if self.file != nil { self.abort() } }

    func write(_ bytes: [UInt8]) throws(StorageError) {
        guard let file = self.file else { throw StorageError(.closed, "snapshot writer already committed or aborted") }
        do {
            try file.write(bytes, at: self.size)
        } catch {
            self.abort()
            throw error
        }
        self.size += bytes.count
        self.checksum.update(bytes)
    }

    func commit() throws(StorageError) -> StoredSnapshot {
        guard let file = self.file else { throw StorageError(.closed, "snapshot writer already committed or aborted") }
        let snapshot = StoredSnapshot(metadata: self.metadata, size: self.size, checksum: self.checksum.value)
        do {
            try file.sync()
            file.close()
            let meta = try POSIXFile(path: self.temporaryPath + "/meta", flags: O_WRONLY | O_CREAT | O_EXCL)
            defer { meta.close() }
            try meta.write(FileSnapshotStore.encodeMeta(snapshot), at: 0)
            try meta.sync()
            meta.close()
            try FileSystem.syncDirectory(self.temporaryPath)
            try self.store.install(snapshot, from: self.temporaryPath)
        } catch {
            self.abort()
            throw error
        }
        self.file = nil
        return snapshot
    }

    func abort() {
        self.file?.close()
        self.file = nil
        try? FileSystem.removeTree(self.temporaryPath)
    }
}

/// Streams a committed snapshot's `data`, verifying size and checksum at the end.
final class FileSnapshotReader: SnapshotReader {
    let snapshot: StoredSnapshot
    private let file: POSIXFile
    private var verifier: SnapshotVerifier

    init(snapshot: StoredSnapshot, file: POSIXFile) {
        self.snapshot = snapshot
        self.file = file
        self.verifier = SnapshotVerifier(snapshot: snapshot, path: file.path)
    }

    func read(maxBytes: Int) throws(StorageError) -> [UInt8] {
        try self.verifier.checkReadable(maxBytes: maxBytes)
        // One byte past the recorded size at most, so a too-long file is noticed.
        let count = min(maxBytes, self.snapshot.size - self.verifier.offset + 1)
        let chunk = try self.file.read(at: self.verifier.offset, count: count)
        return try self.verifier.accept(chunk)
    }
}

/// The size and checksum bookkeeping shared by the snapshot readers.
struct SnapshotVerifier {
    let snapshot: StoredSnapshot
    let path: String?
    private(set) var offset = 0
    private var checksum = CRC32C()
    private var finished = false
    private var failure: StorageError?

    init(snapshot: StoredSnapshot, path: String?) {
        self.snapshot = snapshot
        self.path = path
    }

    /// Throws a previous failure again, or rejects a nonsensical chunk size.
    func checkReadable(maxBytes: Int) throws(StorageError) {
        if let failure { throw failure }
        guard maxBytes > 0 else { throw StorageError(.invalidArgument, "maxBytes must be positive, not \(maxBytes)") }
    }

    /// Accounts for a chunk just read (empty at the end of the data); verifies at the end.
    mutating func accept(_ chunk: [UInt8]) throws(StorageError) -> [UInt8] {
        if self.finished { return [] }
        if chunk.isEmpty {
            guard self.offset == self.snapshot.size else {
                throw self.fail("snapshot data is \(self.offset) bytes, expected \(self.snapshot.size)")
            }
            guard self.checksum.value == self.snapshot.checksum else {
                throw self.fail("snapshot data checksum mismatch")
            }
            self.finished = true
            return []
        }
        guard self.offset + chunk.count <= self.snapshot.size else {
            throw self.fail("snapshot data is longer than the recorded \(self.snapshot.size) bytes")
        }
        self.checksum.update(chunk)
        self.offset += chunk.count
        return chunk
    }

    private mutating func fail(_ message: String) -> StorageError {
        let error = StorageError(.corrupted, message, path: self.path, offset: self.offset)
        self.failure = error
        return error
    }
}
