internal import Rafty

/// A KV snapshot (the format in `KVStore+Snapshot`) of one state of the map, produced chunk by
/// chunk as it is consumed: beyond the map's copy-on-write copy and its sorted keys, it holds one
/// chunk at a time, so a consumer that waits (an HTTP client reading slowly) bounds the memory.
struct KVSnapshotChunks: Sequence, IteratorProtocol, Sendable {
    private let values: [[UInt8]: [UInt8]]
    private let keys: [[UInt8]]
    private let lastAppliedIndex: UInt64
    /// The next key to write; -1 before the header.
    private var position = -1
    private var checksum = CRC32C()
    private var finished = false

    init(values: [[UInt8]: [UInt8]], lastAppliedIndex: UInt64) {
        self.values = values
        self.keys = values.keys.sorted { $0.lexicographicallyPrecedes($1) }
        self.lastAppliedIndex = lastAppliedIndex
    }

    /// The size of the whole snapshot: header, records and checksum.
    var byteCount: Int {
        var count = 4 + 2 + 8 + 8 + 4
        for (key, value) in self.values { count += 8 + key.count + value.count }
        return count
    }

    /// The next chunk (about ``KVStore/snapshotChunkBytes``, or one record if larger; the last one
    /// ends with the checksum), or nil after the last.
    mutating func next() -> [UInt8]? {
        guard !self.finished else { return nil }
        var chunk = ByteWriter(capacity: KVStore.snapshotChunkBytes + 1024)
        if self.position < 0 {
            chunk.bytes.append(contentsOf: KVStore.snapshotMagic)
            chunk.append(KVStore.snapshotVersion)
            chunk.append(self.lastAppliedIndex)
            chunk.append(UInt64(self.keys.count))
            self.position = 0
        }
        while self.position < self.keys.count, chunk.bytes.count < KVStore.snapshotChunkBytes {
            let key = self.keys[self.position]
            chunk.appendField(key)
            chunk.appendField(self.values[key]!)
            self.position += 1
        }
        self.checksum.update(chunk.bytes)
        if self.position == self.keys.count {
            chunk.append(self.checksum.value)
            self.finished = true
        }
        return chunk.bytes
    }
}
