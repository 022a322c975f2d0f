import RaftCore

/// What a stored configuration carries, by format.
enum ConfigurationFormat: Comparable {
    /// Voters and learners (meta version 1, entry tag 2).
    case membersOnly
    /// And addresses (meta version 2, entry tag 3).
    case addresses
    /// And incarnations (meta version 3, entry tag 4).
    case incarnations

    /// The format of a `meta` file of this version (stable state and snapshot alike).
    init(metaVersion: UInt32) {
        self = metaVersion >= 3 ? .incarnations : metaVersion == 2 ? .addresses : .membersOnly
    }
}

/// Appends little-endian integers and length-prefixed bytes to a buffer.
struct BinaryWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { self.bytes.reserveCapacity(capacity) }

    mutating func write(_ value: UInt8) { self.bytes.append(value) }

    mutating func write(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { self.bytes.append(contentsOf: $0) }
    }

    mutating func write(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { self.bytes.append(contentsOf: $0) }
    }

    /// A 32-bit length, then the bytes.
    mutating func writeBlob(_ blob: [UInt8]) {
        self.write(UInt32(blob.count))
        self.bytes.append(contentsOf: blob)
    }

    /// Voters, learners, the members' addresses (absent in format version 1 and in entries
    /// tagged 2), then their incarnations (from format version 3, and in entries tagged 4: see
    /// `write(_ entry:)`).
    mutating func write(_ configuration: ClusterConfiguration, format: ConfigurationFormat = .incarnations) {
        self.write(UInt32(configuration.voters.count))
        for id in configuration.voters.sorted() { self.write(id) }
        self.write(UInt32(configuration.learners.count))
        for id in configuration.learners.sorted() { self.write(id) }
        guard format >= .addresses else { return }
        self.write(UInt32(configuration.addresses.count))
        for (id, address) in configuration.addresses.sorted(by: { $0.key < $1.key }) {
            self.write(id)
            self.writeBlob(Array(address.utf8))
        }
        guard format >= .incarnations else { return }
        self.write(UInt32(configuration.incarnations.count))
        for (id, incarnation) in configuration.incarnations.sorted(by: { $0.key < $1.key }) {
            self.write(id)
            self.write(incarnation)
        }
    }

    mutating func write(_ entry: Entry) {
        self.write(entry.index)
        self.write(entry.term)
        switch entry.payload {
        case .command(let command):
            self.write(UInt8(0))
            self.writeBlob(command)
        case .noop:
            self.write(UInt8(1))
        case .configuration(let configuration):
            // Tag 2 was a configuration without addresses (still read); tag 3 has no incarnations
            // and is still written when there are none, so older builds read such logs.
            let incarnations = !configuration.incarnations.isEmpty
            self.write(UInt8(incarnations ? 4 : 3))
            self.write(configuration, format: incarnations ? .incarnations : .addresses)
        case .evictedCommand:
            preconditionFailure("LogStoreRules.checkAppend refuses evicted placeholders before anything is written")
        }
    }
}

/// Reads what ``BinaryWriter`` wrote; every read is bounds-checked, so damaged input throws
/// instead of crashing.
struct BinaryReader {
    struct Truncated: Error {}

    private let bytes: [UInt8]
    private(set) var position: Int
    private let end: Int

    init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.position = start
        self.end = min(end ?? bytes.count, bytes.count)
    }

    var isAtEnd: Bool { self.position >= self.end }
    var remaining: Int { self.end - self.position }

    mutating func readByte() throws(Truncated) -> UInt8 {
        guard self.position < self.end else { throw Truncated() }
        defer { self.position += 1 }
        return self.bytes[self.position]
    }

    mutating func readUInt32() throws(Truncated) -> UInt32 {
        guard self.remaining >= 4 else { throw Truncated() }
        var value: UInt32 = 0
        for shift in 0..<4 { value |= UInt32(self.bytes[self.position + shift]) << (8 * UInt32(shift)) }
        self.position += 4
        return value
    }

    mutating func readUInt64() throws(Truncated) -> UInt64 {
        guard self.remaining >= 8 else { throw Truncated() }
        var value: UInt64 = 0
        for shift in 0..<8 { value |= UInt64(self.bytes[self.position + shift]) << (8 * UInt64(shift)) }
        self.position += 8
        return value
    }

    mutating func readBytes(_ count: Int) throws(Truncated) -> [UInt8] {
        guard count >= 0, self.remaining >= count else { throw Truncated() }
        defer { self.position += count }
        return Array(self.bytes[self.position..<(self.position + count)])
    }

    mutating func readBlob() throws(Truncated) -> [UInt8] {
        try self.readBytes(Int(try self.readUInt32()))
    }

    /// Reads a configuration; older formats carry no addresses or incarnations.
    mutating func readConfiguration(_ format: ConfigurationFormat) throws(Truncated) -> ClusterConfiguration {
        var voters = Set<NodeID>()
        let voterCount = Int(try self.readUInt32())
        guard voterCount <= self.remaining / 8 else { throw Truncated() }
        for _ in 0..<voterCount { voters.insert(try self.readUInt64()) }
        var learners = Set<NodeID>()
        let learnerCount = Int(try self.readUInt32())
        guard learnerCount <= self.remaining / 8 else { throw Truncated() }
        for _ in 0..<learnerCount { learners.insert(try self.readUInt64()) }
        var addresses: [NodeID: String] = [:]
        if format >= .addresses {
            let addressCount = Int(try self.readUInt32())
            guard addressCount <= self.remaining / 12 else { throw Truncated() }
            for _ in 0..<addressCount {
                let id = try self.readUInt64()
                let bytes = try self.readBlob()
                guard bytes.count <= 1024, let address = String(validating: bytes, as: UTF8.self) else { throw Truncated() }
                addresses[id] = address
            }
        }
        var incarnations: [NodeID: UInt64] = [:]
        if format >= .incarnations {
            let count = Int(try self.readUInt32())
            guard count <= self.remaining / 16 else { throw Truncated() }
            for _ in 0..<count { incarnations[try self.readUInt64()] = try self.readUInt64() }
        }
        return ClusterConfiguration(voters: voters, learners: learners, addresses: addresses, incarnations: incarnations)
    }

    mutating func readEntry() throws(Truncated) -> Entry {
        let index = try self.readUInt64()
        let term = try self.readUInt64()
        switch try self.readByte() {
        case 0: return Entry(term: term, index: index, payload: .command(try self.readBlob()))
        case 1: return Entry(term: term, index: index, payload: .noop)
        case 2: return Entry(term: term, index: index, payload: .configuration(try self.readConfiguration(.membersOnly)))
        case 3: return Entry(term: term, index: index, payload: .configuration(try self.readConfiguration(.addresses)))
        case 4: return Entry(term: term, index: index, payload: .configuration(try self.readConfiguration(.incarnations)))
        default: throw Truncated()
        }
    }
}

extension BinaryReader {
    /// A reader over the body of a small file framed as magic, body, CRC-32C of everything before
    /// it (`meta`, `identity`), after checking, in this order, that it has at least `minimum`
    /// bytes, its checksum and its magic; the body starts after the magic and ends before the
    /// checksum. `corrupted(message, offset)` makes the error for damage.
    static func checkedRecord(
        _ bytes: [UInt8], magic: [UInt8], minimum: Int, corrupted: (String, Int) -> StorageError
    ) throws(StorageError) -> BinaryReader {
        guard bytes.count >= minimum else { throw corrupted("only \(bytes.count) bytes", bytes.count) }
        let body = bytes.count - 4
        var trailer = BinaryReader(bytes, from: body)
        let stored = (try? trailer.readUInt32()) ?? 0
        guard CRC32C.checksum(bytes[..<body]) == stored else { throw corrupted("checksum mismatch", 0) }
        guard Array(bytes[0..<magic.count]) == magic else { throw corrupted("bad magic", 0) }
        return BinaryReader(bytes, from: magic.count, to: body)
    }
}
