/// A read of the key-value store, served by ``KVStore/query(_:)``.
///
/// Wire format (version 1): `version: u8`, `opcode: u8` (1 = get), `u32`-length-prefixed key.
/// The answer: `version: u8`, then `0` (absent) or `1` and a `u32`-length-prefixed value.
public enum KVQuery: Sendable, Hashable {
    /// The value of `key`, or absence.
    case get(key: [UInt8])

    /// The format version this code writes and reads.
    public static let version: UInt8 = 1

    /// The encoded query.
    public func encoded() -> [UInt8] {
        switch self {
        case .get(let key):
            var writer = ByteWriter(capacity: 6 + key.count)
            writer.append(Self.version)
            writer.append(UInt8(1))
            writer.appendField(key)
            return writer.bytes
        }
    }

    /// Decodes a query.
    ///
    /// - Throws: ``KVError/Code/malformed`` for an unknown version or opcode, or bad framing.
    public init(decoding bytes: [UInt8]) throws(KVError) {
        var reader = ByteReader(bytes)
        let version = try reader.readByte()
        guard version == Self.version else { throw KVError(.malformed, "unknown query version \(version)") }
        let code = try reader.readByte()
        guard code == 1 else { throw KVError(.malformed, "unknown query opcode \(code)") }
        self = .get(key: try reader.readField())
        try reader.expectEnd()
    }

    /// Encodes the answer to a get: the value, or nil for an absent key.
    public static func encodeAnswer(_ value: [UInt8]?) -> [UInt8] {
        var writer = ByteWriter(capacity: 6 + (value?.count ?? 0))
        writer.append(Self.version)
        if let value {
            writer.append(UInt8(1))
            writer.appendField(value)
        } else {
            writer.append(UInt8(0))
        }
        return writer.bytes
    }

    /// Decodes the answer to a get.
    ///
    /// - Throws: ``KVError/Code/malformed`` if the bytes are not an answer.
    public static func decodeAnswer(_ bytes: [UInt8]) throws(KVError) -> [UInt8]? {
        var reader = ByteReader(bytes)
        let version = try reader.readByte()
        guard version == Self.version else { throw KVError(.malformed, "unknown answer version \(version)") }
        let value: [UInt8]?
        switch try reader.readByte() {
        case 0: value = nil
        case 1: value = try reader.readField()
        case let other: throw KVError(.malformed, "unknown answer tag \(other)")
        }
        try reader.expectEnd()
        return value
    }
}
