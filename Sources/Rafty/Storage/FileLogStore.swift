public import RaftCore
private import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A ``LogStore`` on disk: a segmented write-ahead log (see `WALFormat` in `WALSegment.swift` for the file format).
///
/// Each `append` is one batch written with one `pwrite` and made durable with one `fdatasync`.
/// Memory holds, per entry, only its term and where its encoding sits; reads use `pread`.
/// On open every batch is verified: a damaged batch at the very end of the last segment is a torn
/// write and is cut off; damage anywhere else throws ``StorageError/Code/corrupted``.
public final class FileLogStore: LogStore {
    /// Where an entry is stored.
    private struct Location {
        var term: UInt64
        /// File offset of the entry's encoding in its segment.
        var offset: Int
        /// Length of the encoding.
        var length: UInt32
        /// How far before `offset` the header of the entry's batch starts.
        var batchDistance: UInt32

        var batchOffset: Int { self.offset - Int(self.batchDistance) }
    }

    private struct State {
        var segments: [WALSegment]
        /// `locations[i]` is the entry at `compactedIndex + 1 + i`.
        var locations: [Location]
        var compactedIndex: UInt64
        var closed = false

        var firstIndex: UInt64 { self.compactedIndex + 1 }
        var lastIndex: UInt64 { self.compactedIndex + UInt64(self.locations.count) }

        func checkOpen(_ path: String) throws(StorageError) {
            if self.closed { throw StorageError(.closed, "the log store is closed", path: path) }
        }

        func location(_ index: UInt64) -> Location { self.locations[Int(index - self.compactedIndex - 1)] }

        /// The position in `segments` of the segment holding `index`.
        func segmentPosition(of index: UInt64) -> Int {
            var low = 0
            var high = self.segments.count - 1
            while low < high {
                let middle = (low + high + 1) / 2
                if self.segments[middle].firstIndex <= index { low = middle } else { high = middle - 1 }
            }
            return low
        }
    }

    /// The WAL directory.
    public let directory: String
    /// The size after which appends go to a new segment.
    public let segmentSize: Int
    // Mutex is Sendable whatever it guards; the segment files inside are only touched under its lock.
    private let state: Mutex<State>

    /// Opens (or creates) the WAL in `directory`, verifying every stored batch.
    ///
    /// - Throws: ``StorageError/Code/corrupted`` (with path and offset) for damage other than a torn
    ///   tail, ``StorageError/Code/unsupportedVersion`` for an unknown format version.
    public init(directory: String, segmentSize: Int = 64 << 20) throws(StorageError) {
        guard segmentSize > 0 else {
            throw StorageError(.invalidArgument, "segment size must be positive, not \(segmentSize)", path: directory)
        }
        var directory = directory
        while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
        self.directory = directory
        self.segmentSize = segmentSize
        if !FileSystem.isDirectory(directory) {
            try FileSystem.makeDirectory(directory)
            // Make the new directory's own entry durable.
            let parent = directory.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            try FileSystem.syncDirectory(parent.isEmpty ? (directory.hasPrefix("/") ? "/" : ".") : parent)
        }
        self.state = Mutex(try Self.recover(directory: directory))
    }

    deinit { self.close() }

    // MARK: - LogStore

    /// The index of the first stored entry.
    public var firstIndex: UInt64 { self.state.withLock { $0.firstIndex } }

    /// The index of the last stored entry.
    public var lastIndex: UInt64 { self.state.withLock { $0.lastIndex } }

    /// Appends entries that continue at `lastIndex + 1` as one batch: one write, one fdatasync.
    public func append(_ entries: [Entry]) throws(StorageError) {
        try self.state.withLock { state throws(StorageError) in
            try state.checkOpen(self.directory)
            try LogStoreRules.checkAppend(entries, lastIndex: state.lastIndex, path: self.directory)
            guard let first = entries.first else { return }
            let batch = try WALFormat.encodeBatch(entries)
            let segment: WALSegment
            if let last = state.segments.last, !(last.hasBatches && last.size + batch.bytes.count > self.segmentSize) {
                segment = last
            } else {
                segment = try self.createSegment(firstIndex: first.index)
                state.segments.append(segment)
            }
            let batchOffset = segment.size
            do throws(StorageError) {
                try segment.file.write(batch.bytes, at: batchOffset)
                try segment.file.dataSync()
            } catch {
                // Best effort: leave no partial batch behind (recovery would cut it off anyway).
                try? segment.file.truncate(to: batchOffset)
                throw error
            }
            segment.size += batch.bytes.count
            for (entry, span) in zip(entries, batch.spans) {
                state.locations.append(
                    Location(
                        term: entry.term, offset: batchOffset + span.offset, length: UInt32(span.length),
                        batchDistance: UInt32(span.offset)))
            }
        }
    }

    /// Deletes the entries at and after `index`: later segments go newest first, then the segment
    /// holding `index` is rewritten to a temporary file and renamed over, so a crash leaves a prefix.
    public func truncateSuffix(from index: UInt64) throws(StorageError) {
        try self.state.withLock { state throws(StorageError) in
            try state.checkOpen(self.directory)
            try LogStoreRules.checkTruncate(index, firstIndex: state.firstIndex, lastIndex: state.lastIndex, path: self.directory)
            guard index <= state.lastIndex else { return }
            let position = state.segmentPosition(of: index)
            while state.segments.count > position + 1 {
                let segment = state.segments.removeLast()
                try self.delete(segment)
                state.locations.removeLast(Int(state.lastIndex + 1 - segment.firstIndex))
            }
            let segment = state.segments[position]
            if segment.firstIndex == index {
                state.segments.removeLast()
                try self.delete(segment)
            } else {
                try self.rewrite(segment, keepingBefore: state.location(index))
            }
            state.locations.removeLast(Int(state.lastIndex - index + 1))
        }
    }

    /// Deletes the entries at and before `index`: the compaction point is persisted atomically, then
    /// segments holding only compacted entries are deleted.
    public func compactPrefix(through index: UInt64) throws(StorageError) {
        try self.state.withLock { state throws(StorageError) in
            try state.checkOpen(self.directory)
            guard index >= state.firstIndex else { return }
            try self.writeAtomically(WALFormat.compactedFile(index: index), name: WALFormat.compactedName)
            if index >= state.lastIndex {
                state.locations = []
                state.compactedIndex = index
                while !state.segments.isEmpty {
                    try self.delete(state.segments.removeFirst())
                }
            } else {
                state.locations.removeFirst(Int(index - state.compactedIndex))
                state.compactedIndex = index
                while state.segments.count > 1 && state.segments[1].firstIndex <= index + 1 {
                    try self.delete(state.segments.removeFirst())
                }
            }
        }
    }

    /// The entries in `range`, stopping once about `maxBytes` are read (at least one entry).
    public func entries(in range: Range<UInt64>, maxBytes: Int) throws(StorageError) -> [Entry] {
        try self.state.withLock { state throws(StorageError) -> [Entry] in
            try state.checkOpen(self.directory)
            try LogStoreRules.checkRead(range, firstIndex: state.firstIndex, lastIndex: state.lastIndex, path: self.directory)
            var result: [Entry] = []
            var bytes = 0
            var index = range.lowerBound
            while index < range.upperBound {
                // One pread for a run of entries in the same segment, sized by the remaining budget.
                let position = state.segmentPosition(of: index)
                let segment = state.segments[position]
                let segmentEnd =
                    position + 1 < state.segments.count ? state.segments[position + 1].firstIndex : state.lastIndex + 1
                let runEnd = min(range.upperBound, segmentEnd)
                let budget = min(max(maxBytes - bytes, 0), 8 << 20)
                let start = state.location(index).offset
                var end = index
                var stop = start
                while end < runEnd {
                    let location = state.location(end)
                    if end > index && stop - start >= budget { break }
                    stop = location.offset + Int(location.length)
                    end += 1
                }
                let buffer = try segment.file.read(at: start, count: stop - start)
                for current in index..<end {
                    let location = state.location(current)
                    let relative = location.offset - start
                    var reader = BinaryReader(buffer, from: relative, to: relative + Int(location.length))
                    guard let entry = try? reader.readEntry(), entry.index == current, entry.term == location.term else {
                        throw StorageError(
                            .corrupted, "entry \(current) no longer reads back", path: segment.path, offset: location.offset)
                    }
                    bytes += entry.byteSize
                    if !result.isEmpty && bytes > maxBytes { return result }
                    result.append(entry)
                }
                index = end
            }
            return result
        }
    }

    /// The term of the entry at `index`.
    public func term(at index: UInt64) throws(StorageError) -> UInt64 {
        try self.state.withLock { state throws(StorageError) in
            try state.checkOpen(self.directory)
            try LogStoreRules.checkRead(
                index..<(index + 1), firstIndex: state.firstIndex, lastIndex: state.lastIndex, path: self.directory)
            return state.location(index).term
        }
    }

    /// Closes the segment files; later calls throw ``StorageError/Code/closed``.
    public func close() {
        self.state.withLock { state in
            guard !state.closed else { return }
            state.closed = true
            for segment in state.segments { segment.file.close() }
        }
    }

    // MARK: - File operations (called with the lock held)

    private func path(_ name: String) -> String { self.directory + "/" + name }

    /// Creates a segment atomically: header to a temporary file, fsync, rename, fsync the directory.
    private func createSegment(firstIndex: UInt64) throws(StorageError) -> WALSegment {
        let name = WALFormat.segmentName(firstIndex)
        let temporary = self.path(name + WALFormat.tempSuffix)
        let final = self.path(name)
        let file = try POSIXFile(path: temporary, flags: O_RDWR | O_CREAT | O_TRUNC)
        do throws(StorageError) {
            try file.write(WALFormat.segmentHeader(firstIndex: firstIndex), at: 0)
            try file.sync()
            try FileSystem.rename(temporary, to: final)
            try FileSystem.syncDirectory(self.directory)
        } catch {
            file.close()
            try? FileSystem.removeFile(temporary)
            throw error
        }
        return WALSegment(firstIndex: firstIndex, path: final, file: file, size: WALFormat.segmentHeaderSize)
    }

    private func delete(_ segment: WALSegment) throws(StorageError) {
        segment.file.close()
        try FileSystem.removeFile(segment.path)
        try FileSystem.syncDirectory(self.directory)
    }

    /// Replaces `segment` with a copy holding only the entries before `cut`: the whole batches
    /// before its batch, then (re-framed) the part of its batch before it.
    private func rewrite(_ segment: WALSegment, keepingBefore cut: Location) throws(StorageError) {
        let temporary = segment.path + WALFormat.tempSuffix
        let copy = try POSIXFile(path: temporary, flags: O_RDWR | O_CREAT | O_TRUNC)
        var size = 0
        do throws(StorageError) {
            let batchOffset = cut.batchOffset
            var position = 0
            while position < batchOffset {
                let chunk = try segment.file.read(at: position, count: min(1 << 20, batchOffset - position))
                guard !chunk.isEmpty else {
                    throw StorageError(.corrupted, "segment ends early", path: segment.path, offset: position)
                }
                try copy.write(chunk, at: position)
                position += chunk.count
            }
            size = batchOffset
            let payloadStart = batchOffset + WALFormat.batchHeaderSize
            if cut.offset > payloadStart {
                let payload = try segment.file.read(at: payloadStart, count: cut.offset - payloadStart)
                let header = WALFormat.batchHeader(payloadLength: payload.count, payloadCRC: CRC32C.checksum(payload))
                try copy.write(header + payload, at: batchOffset)
                size = cut.offset
            }
            try copy.sync()
            try FileSystem.rename(temporary, to: segment.path)
            try FileSystem.syncDirectory(self.directory)
        } catch {
            copy.close()
            try? FileSystem.removeFile(temporary)
            throw error
        }
        segment.file.close()
        segment.file = copy
        segment.size = size
    }

    /// Writes a small file atomically: temporary file, fsync, rename, fsync the directory.
    private func writeAtomically(_ bytes: [UInt8], name: String) throws(StorageError) {
        let temporary = self.path(name + WALFormat.tempSuffix)
        let file = try POSIXFile(path: temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
        defer { file.close() }
        try file.write(bytes, at: 0)
        try file.sync()
        try FileSystem.rename(temporary, to: self.path(name))
        try FileSystem.syncDirectory(self.directory)
    }

    // MARK: - Recovery

    /// Reads and verifies the WAL. Everything is checked before anything is changed on disk, so a
    /// `.corrupted` error deletes nothing.
    private static func recover(directory: String) throws(StorageError) -> State {
        let names = try FileSystem.list(directory)
        let path = { (name: String) in directory + "/" + name }

        var compactedIndex: UInt64 = 0
        if names.contains(WALFormat.compactedName) {
            let file = try POSIXFile(path: path(WALFormat.compactedName), flags: O_RDONLY)
            defer { file.close() }
            compactedIndex = try WALFormat.parseCompactedFile(try file.readAll(), path: file.path)
        }

        let segmentIndices = names.compactMap(WALFormat.parseSegmentName).sorted()
        // Segments wholly at or before the compaction point (left by a crash during compaction).
        var dead = 0
        while dead + 1 < segmentIndices.count && segmentIndices[dead + 1] <= compactedIndex + 1 { dead += 1 }
        let live = Array(segmentIndices[dead...])
        if let first = live.first, first > compactedIndex + 1 {
            throw StorageError(
                .corrupted, "the log starts at \(first) but entries after \(compactedIndex) are missing",
                path: path(WALFormat.segmentName(first)))
        }

        // Phase 1: verify, changing nothing.
        var segments: [WALSegment] = []
        var locations: [Location] = []
        var tailCut: (segment: WALSegment, size: Int)?
        var tornSegment: String?
        var nextIndex: UInt64? = nil
        var lastEntry: UInt64 = compactedIndex
        var hasLiveEntries = false
        for (position, firstIndex) in live.enumerated() {
            let isLast = position == live.count - 1
            let segmentPath = path(WALFormat.segmentName(firstIndex))
            if let nextIndex, firstIndex != nextIndex {
                throw StorageError(
                    .corrupted, "segment starts at \(firstIndex) but the previous one ends at \(nextIndex - 1)",
                    path: segmentPath, offset: 0)
            }
            let file = try POSIXFile(path: segmentPath, flags: O_RDWR)
            let bytes = try file.readAll()
            switch try WALFormat.checkSegmentHeader(bytes, path: segmentPath, firstIndex: firstIndex) {
            case .torn(let reason):
                guard isLast else {
                    throw StorageError(.corrupted, "segment header: \(reason)", path: segmentPath, offset: 0)
                }
                file.close()
                tornSegment = segmentPath
                continue
            case .valid:
                break
            }
            let scan = try WALFormat.scanSegment(bytes, path: segmentPath, firstIndex: firstIndex)
            if let damage = scan.damage {
                guard isLast && !scan.damageIsFollowed else {
                    throw StorageError(.corrupted, damage, path: segmentPath, offset: scan.validEnd)
                }
            }
            let segment = WALSegment(firstIndex: firstIndex, path: segmentPath, file: file, size: scan.validEnd)
            if scan.validEnd < bytes.count { tailCut = (segment, scan.validEnd) }
            segments.append(segment)
            for entry in scan.entries where entry.index > compactedIndex {
                locations.append(
                    Location(
                        term: entry.term, offset: entry.offset, length: UInt32(entry.length),
                        batchDistance: UInt32(entry.offset - entry.batchOffset)))
                hasLiveEntries = true
            }
            nextIndex = firstIndex + UInt64(scan.entries.count)
            if let last = scan.entries.last { lastEntry = max(lastEntry, last.index) }
        }
        if hasLiveEntries, locations.count != Int(lastEntry - compactedIndex) {
            throw StorageError(.corrupted, "entries after \(compactedIndex) are missing", path: directory)
        }

        // Phase 2: clean up what crashes leave behind.
        var changed = false
        for name in names where name.hasSuffix(WALFormat.tempSuffix) {
            try FileSystem.removeFile(path(name))
            changed = true
        }
        for firstIndex in segmentIndices[..<dead] {
            try FileSystem.removeFile(path(WALFormat.segmentName(firstIndex)))
            changed = true
        }
        if let tornSegment {
            try FileSystem.removeFile(tornSegment)
            changed = true
        }
        if let tailCut {
            try tailCut.segment.file.truncate(to: tailCut.size)
            try tailCut.segment.file.sync()
        }
        if !hasLiveEntries {
            // Nothing after the compaction point: the next append starts a fresh segment.
            for segment in segments {
                segment.file.close()
                try FileSystem.removeFile(segment.path)
                changed = true
            }
            segments = []
        }
        if changed { try FileSystem.syncDirectory(directory) }
        return State(segments: segments, locations: locations, compactedIndex: compactedIndex)
    }
}
