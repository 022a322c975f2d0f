public import Rafty
internal import Synchronization

// Snapshot format, version 1 (all integers big-endian):
//
//     magic "RKVS" | version: u16 | lastAppliedIndex: u64 | count: u64
//     count × (keyLength: u32 | key | valueLength: u32 | value)    keys in increasing byte order
//     checksum: u32                                                 CRC-32C of every byte before it
//
// Sorted keys make a snapshot of a given state byte-for-byte deterministic and let restore reject
// duplicates; the checksum catches flipped bytes the framing alone would not.

extension KVStore {
    static let snapshotMagic: [UInt8] = Array("RKVS".utf8)
    static let snapshotVersion: UInt16 = 1
    /// Bytes buffered before a chunk is handed to the snapshot output.
    static let snapshotChunkBytes = 64 << 10

    /// The log index a snapshot's header names (the last command applied to the state it holds);
    /// only the header is read: ``restore(from:)`` checks the rest.
    ///
    /// - Throws: ``KVError/Code/corruptSnapshot`` if the header is short or not a KV snapshot's.
    public static func snapshotIndex(of bytes: [UInt8]) throws(KVError) -> UInt64 {
        guard bytes.count >= 14, Array(bytes[0..<4]) == Self.snapshotMagic else {
            throw KVError(.corruptSnapshot, "not a RaftyKV snapshot (bad magic)")
        }
        return bytes[6..<14].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    /// Streams the whole map to `output` in chunks of about 64 KiB.
    public func snapshot(to output: SnapshotOutput) async throws {
        for chunk in self.snapshotChunks() { try output.write(chunk) }
    }

    /// The map as it stands now, in constant time (it is copied on write): the node writes it
    /// while it goes on applying commands.
    public func snapshotView() async throws -> (any StateMachineSnapshot)? {
        let (values, lastAppliedIndex) = self.state.withLock { ($0.values, $0.lastAppliedIndex) }
        return KVSnapshotView(values: values, lastAppliedIndex: lastAppliedIndex)
    }

    /// The snapshot of the map as it stands now, produced as it is consumed (later applies do
    /// not change it: the map is copied on write).
    func snapshotChunks() -> KVSnapshotChunks {
        let (values, lastAppliedIndex) = self.state.withLock { ($0.values, $0.lastAppliedIndex) }
        return KVSnapshotChunks(values: values, lastAppliedIndex: lastAppliedIndex)
    }

    /// Replaces the map with the snapshot in `input`, validating all of it first: on any error
    /// the previous state is kept.
    ///
    /// - Throws: ``KVError/Code/corruptSnapshot`` if the snapshot is truncated, has trailing
    ///   bytes, an unknown magic or version, unsorted or duplicate keys, or a bad checksum; or
    ///   the error of the underlying storage.
    public func restore(from input: SnapshotInput) async throws {
        var reader = SnapshotRecordReader(input)
        let magic = try reader.read(4)
        guard magic == Self.snapshotMagic else { throw corrupt("bad magic") }
        let version = try reader.readInteger(UInt16.self)
        guard version == Self.snapshotVersion else { throw corrupt("unknown version \(version)") }
        let lastAppliedIndex = try reader.readInteger(UInt64.self)
        let count = try reader.readInteger(UInt64.self)
        // Each record takes at least 8 bytes, which bounds a corrupt count before reserving.
        guard count <= UInt64(input.size / 8) else { throw corrupt("\(count) records cannot fit in \(input.size) bytes") }
        var values: [[UInt8]: [UInt8]] = [:]
        values.reserveCapacity(Int(count))
        var previous: [UInt8]?
        for record in 0..<count {
            let key = try reader.readField()
            let value = try reader.readField()
            if let previous, !previous.lexicographicallyPrecedes(key) {
                throw corrupt("record \(record): keys out of order or duplicated")
            }
            values[key] = value
            previous = key
        }
        let expected = reader.checksum.value
        let stored = try reader.readInteger(UInt32.self)
        guard stored == expected else { throw corrupt("checksum mismatch") }
        guard try input.read(maxBytes: 1).isEmpty else { throw corrupt("trailing bytes after the checksum") }
        self.state.withLock { state in
            state.values = values
            state.lastAppliedIndex = lastAppliedIndex
            state.restoreCount += 1
        }
    }
}

/// A captured state of the map; its keys are sorted and its records encoded only when written.
struct KVSnapshotView: StateMachineSnapshot {
    let values: [[UInt8]: [UInt8]]
    let lastAppliedIndex: UInt64

    func write(to output: SnapshotOutput) async throws {
        for chunk in KVSnapshotChunks(values: self.values, lastAppliedIndex: self.lastAppliedIndex) { try output.write(chunk) }
    }
}

private func corrupt(_ message: String) -> KVError {
    KVError(.corruptSnapshot, "corrupt KV snapshot: \(message)")
}

/// Reads snapshot fields with `readExactly`, checksumming them and bounding every length by the
/// bytes that remain (a corrupt length fails fast instead of allocating).
private struct SnapshotRecordReader {
    let input: SnapshotInput
    var checksum = CRC32C()
    var consumed = 0

    init(_ input: SnapshotInput) {
        self.input = input
    }

    mutating func read(_ count: Int) throws -> [UInt8] {
        guard count <= self.input.size - self.consumed else {
            throw corrupt("a \(count)-byte field at offset \(self.consumed) runs past the end (\(self.input.size) bytes)")
        }
        let bytes: [UInt8]
        do {
            bytes = try self.input.readExactly(count)
        } catch let error as SnapshotInputError {
            throw corrupt("truncated at offset \(self.consumed): \(error)")
        }
        self.checksum.update(bytes)
        self.consumed += count
        return bytes
    }

    mutating func readInteger<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try self.read(MemoryLayout<T>.size).reduce(T(0)) { $0 << 8 | T($1) }
    }

    mutating func readField() throws -> [UInt8] {
        try self.read(Int(try self.readInteger(UInt32.self)))
    }
}
