/// What applying a ``KVCommand`` did, as returned to the submitter.
///
/// Wire format (version 1): `version: u8`, `index: u64`, `outcome: u8`, then for delete and
/// compare-and-set one byte (existed / swapped), for an invalid command a `u32`-length-prefixed
/// UTF-8 reason.
public struct KVResult: Sendable, Hashable {
    /// The outcome of one command.
    public enum Outcome: Sendable, Hashable {
        /// A put was applied.
        case put
        /// A delete was applied; `existed` says whether the key was present.
        case deleted(existed: Bool)
        /// A compare-and-set was applied; `swapped` says whether the value was written.
        case compareAndSet(swapped: Bool)
        /// The command could not be decoded; it changed nothing (every node decides the same).
        case invalidCommand(reason: String)
    }

    /// The log index of the command.
    public var index: UInt64
    /// What it did.
    public var outcome: Outcome

    /// Creates a result.
    public init(index: UInt64, outcome: Outcome) {
        self.index = index
        self.outcome = outcome
    }

    /// The format version this code writes and reads.
    public static let version: UInt8 = 1

    /// The encoded result.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: 11)
        writer.append(Self.version)
        writer.append(self.index)
        switch self.outcome {
        case .put:
            writer.append(UInt8(1))
        case .deleted(let existed):
            writer.append(UInt8(2))
            writer.append(UInt8(existed ? 1 : 0))
        case .compareAndSet(let swapped):
            writer.append(UInt8(3))
            writer.append(UInt8(swapped ? 1 : 0))
        case .invalidCommand(let reason):
            writer.append(UInt8(0xFF))
            writer.appendField(Array(reason.utf8))
        }
        return writer.bytes
    }

    /// Decodes a result.
    ///
    /// - Throws: ``KVError/Code/malformed`` for an unknown version or outcome, or bad framing.
    public init(decoding bytes: [UInt8]) throws(KVError) {
        var reader = ByteReader(bytes)
        let version = try reader.readByte()
        guard version == Self.version else { throw KVError(.malformed, "unknown result version \(version)") }
        self.index = try reader.read(UInt64.self)
        func flag() throws(KVError) -> Bool {
            switch try reader.readByte() {
            case 0: return false
            case 1: return true
            case let other: throw KVError(.malformed, "bad flag \(other) in result")
            }
        }
        let outcome = try reader.readByte()
        switch outcome {
        case 1: self.outcome = .put
        case 2: self.outcome = .deleted(existed: try flag())
        case 3: self.outcome = .compareAndSet(swapped: try flag())
        case 0xFF: self.outcome = .invalidCommand(reason: String(decoding: try reader.readField(), as: UTF8.self))
        default: throw KVError(.malformed, "unknown result outcome \(outcome)")
        }
        try reader.expectEnd()
    }
}
