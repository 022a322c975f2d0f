import RaftCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A ``StableStore`` kept in one small file, `<directory>/meta`, replaced atomically on every save.
///
/// On-disk format of `meta` (little-endian):
///
/// | field          | size | notes                                              |
/// |----------------|------|----------------------------------------------------|
/// | magic          | 4    | `RFST`                                             |
/// | format version | 4    | ``StableState/formatVersion``                      |
/// | flags          | 1    | bit 0: node id present, 1: vote present, 2: configuration present |
/// | node id        | 8    | 0 if absent                                        |
/// | term           | 8    |                                                    |
/// | vote           | 8    | 0 if absent                                        |
/// | commit         | 8    |                                                    |
/// | configuration  | var  | only if flag bit 2: voter count + ids, learner count + ids, then (version 2) address count + (id, length-prefixed UTF-8), then (version 3) incarnation count + (id, incarnation) |
/// | CRC-32C        | 4    | over every preceding byte                          |
///
/// The checksum is always the last four bytes, whatever the version, so damage anywhere
/// (including the version field) reads as ``StorageError/Code/corrupted``, and only an intact file
/// of an unknown version reads as ``StorageError/Code/unsupportedVersion``.
///
/// ``save(_:)`` writes `meta.tmp`, fsyncs it, renames it over `meta` and fsyncs the directory. A
/// crash therefore leaves either the old or the new `meta` (plus, perhaps, a stray `meta.tmp`,
/// which opening ignores and removes). A `meta` that fails its checks cannot come from a crash,
/// only from disk damage, so opening reports it instead of starting over.
public final class FileStableStore: StableStore {
    /// The directory holding `meta`.
    public let directory: String
    private let metaPath: String
    private let tempPath: String
    private let current: Mutex<StableState>

    static let magic: [UInt8] = Array("RFST".utf8)

    /// Opens (creating the directory if needed) the store in `directory`.
    ///
    /// - Throws: ``StorageError/Code/corrupted`` naming `meta` if it is damaged,
    ///   ``StorageError/Code/unsupportedVersion`` if it was written by an unknown format version,
    ///   ``StorageError/Code/io`` if a system call fails.
    public init(directory: String) throws(StorageError) {
        self.directory = directory
        self.metaPath = directory + "/meta"
        self.tempPath = directory + "/meta.tmp"
        try FileSystem.makeDirectory(directory)
        if FileSystem.exists(self.tempPath) {
            try FileSystem.removeFile(self.tempPath)
            try FileSystem.syncDirectory(directory)
        }
        var state = StableState()
        if FileSystem.exists(self.metaPath) {
            let file = try POSIXFile(path: self.metaPath, flags: O_RDONLY)
            defer { file.close() }
            state = try Self.decode(try file.readAll(), path: self.metaPath)
        }
        self.current = Mutex(state)
    }

    /// The stored state.
    public var state: StableState { self.current.withLock { $0 } }

    /// Atomically and durably replaces the stored state.
    ///
    /// If this throws, the file may hold either the old or the new state; the in-memory copy keeps
    /// the old one. Callers should treat the failure as fatal.
    public func save(_ state: StableState) throws(StorageError) {
        let bytes = Self.encode(state)
        try self.current.withLock { (current: inout StableState) throws(StorageError) in
            let file = try POSIXFile(path: self.tempPath, flags: O_WRONLY | O_CREAT | O_TRUNC)
            defer { file.close() }
            try file.write(bytes, at: 0)
            try file.sync()
            file.close()
            try FileSystem.rename(self.tempPath, to: self.metaPath)
            try FileSystem.syncDirectory(self.directory)
            current = state
        }
    }

    /// The bytes of `meta` for `state` (`version` is overridable for tests).
    static func encode(_ state: StableState, version: UInt32 = StableState.formatVersion) -> [UInt8] {
        var writer = BinaryWriter(capacity: 64)
        writer.bytes.append(contentsOf: Self.magic)
        writer.write(version)
        var flags: UInt8 = 0
        if state.nodeID != nil { flags |= 1 }
        if state.hardState.vote != nil { flags |= 2 }
        if state.configuration != nil { flags |= 4 }
        writer.write(flags)
        writer.write(state.nodeID ?? 0)
        writer.write(state.hardState.term)
        writer.write(state.hardState.vote ?? 0)
        writer.write(state.hardState.commit)
        if let configuration = state.configuration { writer.write(configuration, format: ConfigurationFormat(metaVersion: version)) }
        writer.write(CRC32C.checksum(writer.bytes))
        return writer.bytes
    }

    /// Parses `meta`, checking length, checksum, magic and version, in that order.
    static func decode(_ bytes: [UInt8], path: String) throws(StorageError) -> StableState {
        func corrupted(_ message: String, at offset: Int) -> StorageError {
            StorageError(.corrupted, "stable state file is damaged: \(message)", path: path, offset: offset)
        }
        var reader = try BinaryReader.checkedRecord(bytes, magic: Self.magic, minimum: 4 + 4 + 1 + 8 * 4 + 4, corrupted: corrupted)
        do {
            let version = try reader.readUInt32()
            guard (1...StableState.formatVersion).contains(version) else {
                throw StorageError(
                    .unsupportedVersion,
                    "stable state format version \(version) is not supported (this build reads \(StableState.formatVersion))",
                    path: path
                )
            }
            let flags = try reader.readByte()
            guard flags & ~7 == 0 else { throw corrupted("unknown flags \(flags)", at: 8) }
            let nodeID = try reader.readUInt64()
            let term = try reader.readUInt64()
            let vote = try reader.readUInt64()
            let commit = try reader.readUInt64()
            let configuration = flags & 4 != 0 ? try reader.readConfiguration(.init(metaVersion: version)) : nil
            guard reader.isAtEnd else { throw corrupted("trailing bytes", at: reader.position) }
            return StableState(
                nodeID: flags & 1 != 0 ? nodeID : nil,
                hardState: HardState(term: term, vote: flags & 2 != 0 ? vote : nil, commit: commit),
                configuration: configuration
            )
        } catch let error as StorageError {
            throw error
        } catch {
            throw corrupted("truncated record", at: reader.position)
        }
    }
}
