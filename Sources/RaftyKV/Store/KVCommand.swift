/// A write to the key-value store, as proposed to the Raft log.
///
/// Wire format (version 1): `version: u8`, `opcode: u8`, then `u32`-length-prefixed byte
/// strings, big-endian: put `key value`, delete `key`, compare-and-set `key expected new`,
/// create-if-absent `key new`. Every byte must be consumed.
public enum KVCommand: Sendable, Hashable {
    /// Sets `key` to `value`.
    case put(key: [UInt8], value: [UInt8])
    /// Removes `key` (a no-op if absent).
    case delete(key: [UInt8])
    /// Sets `key` to `new` only if its current value is `expected`, or, when `expected` is nil,
    /// only if the key is absent.
    case compareAndSet(key: [UInt8], expected: [UInt8]?, new: [UInt8])

    /// The format version this code writes and reads.
    public static let version: UInt8 = 1

    private enum Opcode: UInt8 {
        case put = 1
        case delete = 2
        case compareAndSet = 3
        case createIfAbsent = 4
    }

    /// The key the command writes.
    public var key: [UInt8] {
        switch self {
        case .put(let key, _), .delete(let key), .compareAndSet(let key, _, _): key
        }
    }

    /// The encoded command.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: 2 + 12 + self.key.count)
        writer.append(Self.version)
        switch self {
        case .put(let key, let value):
            writer.append(Opcode.put.rawValue)
            writer.appendField(key)
            writer.appendField(value)
        case .delete(let key):
            writer.append(Opcode.delete.rawValue)
            writer.appendField(key)
        case .compareAndSet(let key, let expected?, let new):
            writer.append(Opcode.compareAndSet.rawValue)
            writer.appendField(key)
            writer.appendField(expected)
            writer.appendField(new)
        case .compareAndSet(let key, nil, let new):
            writer.append(Opcode.createIfAbsent.rawValue)
            writer.appendField(key)
            writer.appendField(new)
        }
        return writer.bytes
    }

    /// Decodes a command.
    ///
    /// - Throws: ``KVError/Code/malformed`` for an unknown version or opcode, or bad framing.
    public init(decoding bytes: [UInt8]) throws(KVError) {
        var reader = ByteReader(bytes)
        let version = try reader.readByte()
        guard version == Self.version else { throw KVError(.malformed, "unknown command version \(version)") }
        let code = try reader.readByte()
        switch Opcode(rawValue: code) {
        case .put:
            self = .put(key: try reader.readField(), value: try reader.readField())
        case .delete:
            self = .delete(key: try reader.readField())
        case .compareAndSet:
            self = .compareAndSet(key: try reader.readField(), expected: try reader.readField(), new: try reader.readField())
        case .createIfAbsent:
            self = .compareAndSet(key: try reader.readField(), expected: nil, new: try reader.readField())
        case nil:
            throw KVError(.malformed, "unknown command opcode \(code)")
        }
        try reader.expectEnd()
    }
}
