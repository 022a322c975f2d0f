import RaftCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The on-disk format of ``FileLogStore``'s write-ahead log (all integers little-endian).
///
/// A segment file `<first index, 20 decimal digits>.wal` starts with a 20-byte header:
///
///     [magic "RWAL" u32][format version u32][first index u64][CRC32C of the previous 16 bytes u32]
///
/// followed by batches, one per `append` call, each a 16-byte header and its payload:
///
///     [magic "WBAT" u32][payload length u32][payload CRC32C u32][CRC32C of the previous 12 bytes u32]
///     [payload: the batch's entries, encoded back to back by `BinaryWriter.write(_: Entry)`]
///
/// The header CRC lets recovery trust a batch's length; a batch whose header or payload fails its
/// check is a torn write only if no valid batch header follows it in the last segment.
///
/// The compaction point lives in `compacted`:
///
///     [magic "RCMP" u32][format version u32][compacted index u64][CRC32C of the previous 16 bytes u32]
enum WALFormat {
    static let segmentMagic: UInt32 = 0x4C41_5752  // "RWAL"
    static let batchMagic: UInt32 = 0x5441_4257  // "WBAT"
    static let compactedMagic: UInt32 = 0x504D_4352  // "RCMP"
    static let version: UInt32 = 1

    static let segmentHeaderSize = 20
    static let batchHeaderSize = 16
    static let compactedFileSize = 20

    static let segmentSuffix = ".wal"
    static let tempSuffix = ".tmp"
    static let compactedName = "compacted"
    static let nameDigits = 20

    /// `00000000000000000001.wal` for index 1: name order is index order.
    static func segmentName(_ firstIndex: UInt64) -> String {
        let digits = String(firstIndex)
        return String(repeating: "0", count: max(0, Self.nameDigits - digits.count)) + digits + Self.segmentSuffix
    }

    /// The first index a segment file name stands for, or nil if `name` is not a segment's.
    static func parseSegmentName(_ name: String) -> UInt64? {
        guard name.hasSuffix(Self.segmentSuffix) else { return nil }
        let stem = name.dropLast(Self.segmentSuffix.count)
        guard stem.count == Self.nameDigits, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(stem)
    }

    static func segmentHeader(firstIndex: UInt64) -> [UInt8] {
        var writer = BinaryWriter(capacity: Self.segmentHeaderSize)
        writer.write(Self.segmentMagic)
        writer.write(Self.version)
        writer.write(firstIndex)
        writer.write(CRC32C.checksum(writer.bytes))
        return writer.bytes
    }

    static func compactedFile(index: UInt64) -> [UInt8] {
        var writer = BinaryWriter(capacity: Self.compactedFileSize)
        writer.write(Self.compactedMagic)
        writer.write(Self.version)
        writer.write(index)
        writer.write(CRC32C.checksum(writer.bytes))
        return writer.bytes
    }

    /// Parses the `compacted` file.
    static func parseCompactedFile(_ bytes: [UInt8], path: String) throws(StorageError) -> UInt64 {
        var reader = BinaryReader(bytes)
        do {
            guard try reader.readUInt32() == Self.compactedMagic else {
                throw StorageError(.corrupted, "bad magic in the compaction point file", path: path, offset: 0)
            }
            let version = try reader.readUInt32()
            guard version == Self.version else {
                throw StorageError(.unsupportedVersion, "compaction point file has format version \(version), expected \(Self.version)", path: path)
            }
            let index = try reader.readUInt64()
            guard try reader.readUInt32() == CRC32C.checksum(bytes[0..<16]), bytes.count == Self.compactedFileSize else {
                throw StorageError(.corrupted, "checksum mismatch in the compaction point file", path: path, offset: 0)
            }
            return index
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.corrupted, "the compaction point file is truncated", path: path, offset: 0)
        }
    }

    /// Where each entry of an encoded batch sits, relative to the start of the batch.
    struct EncodedBatch {
        var bytes: [UInt8]
        /// Offset and length of each entry's encoding, relative to the batch start.
        var spans: [(offset: Int, length: Int)]
    }

    /// Frames `entries` as one batch.
    static func encodeBatch(_ entries: [Entry]) throws(StorageError) -> EncodedBatch {
        var writer = BinaryWriter(capacity: Self.batchHeaderSize + entries.reduce(0) { $0 + $1.byteSize })
        writer.bytes.append(contentsOf: repeatElement(0, count: Self.batchHeaderSize))
        var spans: [(offset: Int, length: Int)] = []
        spans.reserveCapacity(entries.count)
        for entry in entries {
            let start = writer.bytes.count
            writer.write(entry)
            spans.append((start, writer.bytes.count - start))
        }
        var bytes = writer.bytes
        let payloadLength = bytes.count - Self.batchHeaderSize
        guard payloadLength <= Int(UInt32.max) else {
            throw StorageError(.invalidArgument, "a batch of \(payloadLength) bytes exceeds the 4 GiB batch limit")
        }
        let payloadCRC = bytes.withUnsafeBufferPointer { buffer in
            var crc = CRC32C()
            crc.update(UnsafeBufferPointer(rebasing: buffer[Self.batchHeaderSize...]))
            return crc.value
        }
        Self.writeBatchHeader(into: &bytes, at: 0, payloadLength: payloadLength, payloadCRC: payloadCRC)
        return EncodedBatch(bytes: bytes, spans: spans)
    }

    /// The 16-byte header of a batch.
    static func batchHeader(payloadLength: Int, payloadCRC: UInt32) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.batchHeaderSize)
        Self.writeBatchHeader(into: &bytes, at: 0, payloadLength: payloadLength, payloadCRC: payloadCRC)
        return bytes
    }

    private static func writeBatchHeader(into bytes: inout [UInt8], at offset: Int, payloadLength: Int, payloadCRC: UInt32) {
        var writer = BinaryWriter(capacity: Self.batchHeaderSize)
        writer.write(Self.batchMagic)
        writer.write(UInt32(payloadLength))
        writer.write(payloadCRC)
        writer.write(CRC32C.checksum(writer.bytes))
        bytes.replaceSubrange(offset..<(offset + Self.batchHeaderSize), with: writer.bytes)
    }

    /// The payload length and CRC of a valid batch header at `offset`, or nil.
    static func parseBatchHeader(_ bytes: [UInt8], at offset: Int) -> (payloadLength: Int, payloadCRC: UInt32)? {
        guard offset >= 0, bytes.count - offset >= Self.batchHeaderSize else { return nil }
        var reader = BinaryReader(bytes, from: offset, to: offset + Self.batchHeaderSize)
        guard let magic = try? reader.readUInt32(), magic == Self.batchMagic,
            let length = try? reader.readUInt32(), let payloadCRC = try? reader.readUInt32(),
            let headerCRC = try? reader.readUInt32()
        else { return nil }
        guard headerCRC == CRC32C.checksum(bytes[offset..<(offset + 12)]) else { return nil }
        return (Int(length), payloadCRC)
    }

    /// Whether any valid batch header starts at or after `offset`.
    static func hasBatchHeader(_ bytes: [UInt8], from offset: Int) -> Bool {
        var position = max(offset, 0)
        let magic0 = UInt8(truncatingIfNeeded: Self.batchMagic)
        while position + Self.batchHeaderSize <= bytes.count {
            if bytes[position] == magic0, Self.parseBatchHeader(bytes, at: position) != nil { return true }
            position += 1
        }
        return false
    }

    /// One entry found while scanning a segment.
    struct ScannedEntry {
        var index: UInt64
        var term: UInt64
        /// File offset of the entry's encoding.
        var offset: Int
        var length: Int
        /// File offset of the header of the batch holding the entry.
        var batchOffset: Int
    }

    /// The outcome of scanning one segment file.
    struct SegmentScan {
        var entries: [ScannedEntry] = []
        /// Where the valid batches end.
        var validEnd: Int
        /// Why the bytes after `validEnd` are not a valid batch (nil when the file ends there).
        var damage: String?
        /// Whether a valid batch header follows the damage (so it cannot be a torn tail).
        var damageIsFollowed = false
    }

    /// The state of a segment's header.
    enum HeaderCheck {
        case valid
        /// Too short or failing its checks, with no room for any batch: a crash while creating it.
        case torn(String)
    }

    /// Checks a segment header; throws if it is damaged in a way a crash cannot explain.
    static func checkSegmentHeader(_ bytes: [UInt8], path: String, firstIndex: UInt64) throws(StorageError) -> HeaderCheck {
        var reader = BinaryReader(bytes, to: Self.segmentHeaderSize)
        let tornOrCorrupt = { (reason: String) throws(StorageError) -> HeaderCheck in
            if bytes.count <= Self.segmentHeaderSize { return .torn(reason) }
            throw StorageError(.corrupted, "segment header: \(reason)", path: path, offset: 0)
        }
        guard let magic = try? reader.readUInt32() else { return try tornOrCorrupt("file too short") }
        guard magic == Self.segmentMagic else { return try tornOrCorrupt("bad magic") }
        guard let version = try? reader.readUInt32() else { return try tornOrCorrupt("file too short") }
        guard version == Self.version else {
            throw StorageError(
                .unsupportedVersion, "segment has format version \(version), this build reads version \(Self.version)",
                path: path)
        }
        guard let headerIndex = try? reader.readUInt64(), let crc = try? reader.readUInt32() else {
            return try tornOrCorrupt("file too short")
        }
        guard crc == CRC32C.checksum(bytes[0..<16]) else { return try tornOrCorrupt("header checksum mismatch") }
        guard headerIndex == firstIndex else {
            throw StorageError(
                .corrupted, "segment header names first index \(headerIndex) but the file name \(firstIndex)", path: path,
                offset: 0)
        }
        return .valid
    }

    /// Verifies every batch of a segment whose header is valid. Entries must run on from
    /// `firstIndex`; a checksum-valid batch that breaks that (or does not decode) is corruption.
    static func scanSegment(_ bytes: [UInt8], path: String, firstIndex: UInt64) throws(StorageError) -> SegmentScan {
        var scan = SegmentScan(validEnd: Self.segmentHeaderSize)
        var offset = Self.segmentHeaderSize
        var expected = firstIndex
        while offset < bytes.count {
            guard let header = Self.parseBatchHeader(bytes, at: offset) else {
                scan.damage = bytes.count - offset < Self.batchHeaderSize ? "incomplete batch header" : "invalid batch header"
                scan.damageIsFollowed = Self.hasBatchHeader(bytes, from: offset + 1)
                return scan
            }
            let payloadStart = offset + Self.batchHeaderSize
            let payloadEnd = payloadStart + header.payloadLength
            guard payloadEnd <= bytes.count else {
                scan.damage = "incomplete batch payload"
                return scan
            }
            let crc = bytes.withUnsafeBufferPointer { buffer in
                var crc = CRC32C()
                crc.update(UnsafeBufferPointer(rebasing: buffer[payloadStart..<payloadEnd]))
                return crc.value
            }
            guard crc == header.payloadCRC else {
                scan.damage = "batch payload checksum mismatch"
                // Scan from just after this header, not from the payload end the header claims: a
                // valid batch must never be discarded, even if bytes went missing before it.
                scan.damageIsFollowed = Self.hasBatchHeader(bytes, from: offset + 1)
                return scan
            }
            var reader = BinaryReader(bytes, from: payloadStart, to: payloadEnd)
            guard header.payloadLength > 0 else {
                throw StorageError(.corrupted, "empty batch", path: path, offset: offset)
            }
            while !reader.isAtEnd {
                let start = reader.position
                guard let entry = try? reader.readEntry() else {
                    throw StorageError(.corrupted, "undecodable entry in a checksum-valid batch", path: path, offset: start)
                }
                guard entry.index == expected else {
                    throw StorageError(
                        .corrupted, "entry \(entry.index) found where entry \(expected) belongs", path: path, offset: start)
                }
                scan.entries.append(
                    ScannedEntry(index: entry.index, term: entry.term, offset: start, length: reader.position - start, batchOffset: offset))
                expected += 1
            }
            offset = payloadEnd
            scan.validEnd = offset
        }
        return scan
    }
}

/// One open segment file of the WAL.
final class WALSegment {
    let firstIndex: UInt64
    let path: String
    var file: POSIXFile
    /// Bytes in the file: the header plus whole batches.
    var size: Int

    init(firstIndex: UInt64, path: String, file: POSIXFile, size: Int) {
        self.firstIndex = firstIndex
        self.path = path
        self.file = file
        self.size = size
    }

    /// Whether the segment holds any batch.
    var hasBatches: Bool { self.size > WALFormat.segmentHeaderSize }
}
