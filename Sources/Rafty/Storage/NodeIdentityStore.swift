import RaftCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Keeps a node's ``NodeIdentity``: in `<dataDir>/identity`, replaced atomically on every change,
/// or in memory (then every start is a new incarnation, which is what it is: the data is gone).
///
/// The transport consults it for every new peer stream, concurrently with the node's loop, so it
/// is safe to use from any thread. Changes are rare (a peer seen for the first time, a member
/// removed), and each is durable before the message that caused it is accepted.
///
/// On-disk format of `identity` (little-endian): magic `RFID`, format version (4 bytes, 1),
/// cluster id (8), incarnation (8), peer count (4), then (node id, incarnation) pairs (8 + 8
/// each), CRC-32C of every preceding byte (4). Damage reads as ``StorageError/Code/corrupted``.
public final class NodeIdentityStore: Sendable {
    /// The format version ``NodeIdentityStore`` writes.
    public static let formatVersion: UInt32 = 1
    static let magic: [UInt8] = Array("RFID".utf8)

    private let directory: String?
    private let current: Mutex<NodeIdentity>

    /// Opens the identity of the data directory `directory`, creating one (with a new random
    /// incarnation) if there is none: a new directory, or one written by a version without it.
    ///
    /// - Throws: ``StorageError/Code/corrupted`` if the file is damaged,
    ///   ``StorageError/Code/unsupportedVersion`` if a newer version wrote it,
    ///   ``StorageError/Code/io`` if a system call fails.
    public init(directory: String) throws(StorageError) {
        self.directory = directory
        let path = directory + "/identity"
        try FileSystem.makeDirectory(directory)
        if FileSystem.exists(path + ".tmp") {
            try FileSystem.removeFile(path + ".tmp")
        }
        if FileSystem.exists(path) {
            let file = try POSIXFile(path: path, flags: O_RDONLY)
            defer { file.close() }
            self.current = Mutex(try Self.decode(try file.readAll(), path: path))
        } else {
            var generator = SystemRandomNumberGenerator()
            let identity = NodeIdentity.fresh(using: &generator)
            try Self.write(identity, directory: directory)
            self.current = Mutex(identity)
        }
    }

    /// An identity kept in memory: a new incarnation, no cluster yet (or `identity`).
    public init(inMemory identity: NodeIdentity? = nil) {
        var generator = SystemRandomNumberGenerator()
        self.directory = nil
        self.current = Mutex(identity ?? NodeIdentity.fresh(using: &generator))
    }

    /// The identity as it stands.
    public var identity: NodeIdentity { self.current.withLock { $0 } }

    /// Changes the identity with `body`; persists it (before returning) when it changed.
    ///
    /// If persisting fails the change is not kept and the error is thrown.
    @discardableResult
    public func update<Result>(_ body: (inout NodeIdentity) -> Result) throws(StorageError) -> Result {
        try self.current.withLock { (identity: inout NodeIdentity) throws(StorageError) -> Result in
            var changed = identity
            let result = body(&changed)
            guard changed != identity else { return result }
            if let directory = self.directory { try Self.write(changed, directory: directory) }
            identity = changed
            return result
        }
    }

    /// Writes `identity.tmp`, fsyncs it, renames it over `identity` and fsyncs the directory.
    private static func write(_ identity: NodeIdentity, directory: String) throws(StorageError) {
        let path = directory + "/identity"
        let file = try POSIXFile(path: path + ".tmp", flags: O_WRONLY | O_CREAT | O_TRUNC)
        defer { file.close() }
        try file.write(Self.encode(identity), at: 0)
        try file.sync()
        file.close()
        try FileSystem.rename(path + ".tmp", to: path)
        try FileSystem.syncDirectory(directory)
    }

    /// The bytes of `identity` on disk.
    static func encode(_ identity: NodeIdentity) -> [UInt8] {
        var writer = BinaryWriter(capacity: 32 + 16 * identity.peerIncarnations.count)
        writer.bytes.append(contentsOf: Self.magic)
        writer.write(Self.formatVersion)
        writer.write(identity.clusterID)
        writer.write(identity.incarnation)
        writer.write(UInt32(identity.peerIncarnations.count))
        for (peer, incarnation) in identity.peerIncarnations.sorted(by: { $0.key < $1.key }) {
            writer.write(peer)
            writer.write(incarnation)
        }
        writer.write(CRC32C.checksum(writer.bytes))
        return writer.bytes
    }

    /// Parses `identity`, checking length, checksum, magic and version, in that order.
    static func decode(_ bytes: [UInt8], path: String) throws(StorageError) -> NodeIdentity {
        func corrupted(_ message: String, at offset: Int) -> StorageError {
            StorageError(.corrupted, "node identity file is damaged: \(message)", path: path, offset: offset)
        }
        var reader = try BinaryReader.checkedRecord(bytes, magic: Self.magic, minimum: 4 + 4 + 8 + 8 + 4 + 4, corrupted: corrupted)
        do {
            let version = try reader.readUInt32()
            guard version == Self.formatVersion else {
                throw StorageError(
                    .unsupportedVersion, "node identity format version \(version) is not supported (this build reads \(Self.formatVersion))",
                    path: path)
            }
            let clusterID = try reader.readUInt64()
            let incarnation = try reader.readUInt64()
            guard incarnation != 0 else { throw corrupted("incarnation 0", at: 16) }
            let count = try reader.readUInt32()
            var peers: [NodeID: UInt64] = [:]
            for _ in 0..<count {
                let peer = try reader.readUInt64()
                peers[peer] = try reader.readUInt64()
            }
            guard reader.isAtEnd else { throw corrupted("trailing bytes", at: reader.position) }
            return NodeIdentity(clusterID: clusterID, incarnation: incarnation, peerIncarnations: peers)
        } catch let error as StorageError {
            throw error
        } catch {
            throw corrupted("truncated record", at: reader.position)
        }
    }
}
