import Synchronization

/// Where a ``StateMachine`` writes its snapshot; the bytes go straight to the snapshot store.
///
/// Not `Sendable`: it is only valid during ``StateMachine/snapshot(to:)``, on the caller's task.
public final class SnapshotOutput {
    private let sink: ([UInt8]) throws -> Void
    /// Bytes written so far.
    public private(set) var bytesWritten = 0

    /// Creates an output that hands each chunk to `sink` (tests collect them in memory).
    public init(_ sink: @escaping ([UInt8]) throws -> Void) {
        self.sink = sink
    }

    /// Appends a chunk to the snapshot.
    public func write(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        try self.sink(bytes)
        self.bytesWritten += bytes.count
    }
}

/// Where a ``StateMachine`` reads a snapshot from, chunk by chunk, while restoring.
///
/// Not `Sendable`: it is only valid during ``StateMachine/restore(from:)``, on the caller's task.
public final class SnapshotInput {
    private let source: (Int) throws -> [UInt8]
    /// Total size of the snapshot in bytes.
    public let size: Int

    /// Creates an input of `size` bytes; `source(maxBytes)` returns the next chunk, empty at the end.
    public init(size: Int, _ source: @escaping (Int) throws -> [UInt8]) {
        self.size = size
        self.source = source
    }

    /// An input over bytes in memory.
    public convenience init(bytes: [UInt8]) {
        var offset = 0
        self.init(size: bytes.count) { maxBytes in
            let end = min(bytes.count, offset + maxBytes)
            defer { offset = end }
            return Array(bytes[offset..<end])
        }
    }

    /// The next chunk of at most `maxBytes` (> 0); empty at the end of the snapshot.
    ///
    /// - Throws: a storage error if the stored bytes fail their checksum.
    public func read(maxBytes: Int = 1 << 16) throws -> [UInt8] {
        try self.source(max(1, maxBytes))
    }

    /// Reads the rest of the snapshot into one buffer (for small states).
    public func readAll() throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(self.size)
        while true {
            let chunk = try self.read(maxBytes: 1 << 20)
            if chunk.isEmpty { return bytes }
            bytes.append(contentsOf: chunk)
        }
    }

    /// Reads exactly `count` bytes, or throws if the snapshot ends first (for framed formats).
    public func readExactly(_ count: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            let chunk = try self.read(maxBytes: count - bytes.count)
            guard !chunk.isEmpty else { throw SnapshotInputError.truncated(expected: count, got: bytes.count) }
            bytes.append(contentsOf: chunk)
        }
        return bytes
    }
}

/// A snapshot ended in the middle of a record.
public enum SnapshotInputError: Error, Sendable, Hashable {
    /// `readExactly` wanted `expected` bytes and the snapshot ended after `got`.
    case truncated(expected: Int, got: Int)
}

extension SnapshotInput {
    /// An input streaming a stored snapshot (checksum verified at the end).
    convenience init(_ reader: any SnapshotReader) {
        self.init(size: reader.snapshot.size) { maxBytes in try reader.read(maxBytes: maxBytes) }
    }
}

/// A stored snapshot read chunk by chunk by whoever sends it (a transport streaming it to a
/// follower), so that the sender never holds it whole. Reads are serialized: it may be handed
/// from one task to another.
public final class SnapshotSource: Sendable {
    /// Total size in bytes.
    public let size: Int
    private let next: Mutex<(Int) throws -> [UInt8]>

    /// A source of `size` bytes; `next(maxBytes)` returns the next chunk, empty at the end.
    public init(size: Int, _ next: sending @escaping (Int) throws -> [UInt8]) {
        self.size = size
        self.next = Mutex(next)
    }

    /// A source over bytes in memory.
    public convenience init(bytes: [UInt8]) {
        var offset = 0
        self.init(size: bytes.count) { maxBytes in
            let end = min(bytes.count, offset + maxBytes)
            defer { offset = end }
            return Array(bytes[offset..<end])
        }
    }

    /// A source over a stored snapshot (the reader verifies the checksum at the end).
    convenience init(_ reader: sending any SnapshotReader) {
        let size = reader.snapshot.size
        self.init(size: size) { maxBytes in try reader.read(maxBytes: maxBytes) }
    }

    /// The next chunk of at most `maxBytes` (> 0); empty at the end.
    public func read(maxBytes: Int) throws -> [UInt8] {
        try self.next.withLock { try $0(max(1, maxBytes)) }
    }

    /// Everything left, in one buffer.
    public func readAll() throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(self.size)
        while true {
            let chunk = try self.read(maxBytes: 1 << 20)
            if chunk.isEmpty { return bytes }
            bytes.append(contentsOf: chunk)
        }
    }
}
