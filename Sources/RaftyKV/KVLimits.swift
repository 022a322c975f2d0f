/// Size limits enforced before a write is proposed (an oversized write never reaches the log).
public struct KVLimits: Sendable, Hashable {
    /// The longest key in bytes; default 1024.
    public var maxKeyBytes: Int
    /// The longest value in bytes; default 1 MiB.
    public var maxValueBytes: Int

    /// Creates limits (defaults: 1024-byte keys, 1 MiB values).
    public init(maxKeyBytes: Int = 1024, maxValueBytes: Int = 1 << 20) {
        self.maxKeyBytes = maxKeyBytes
        self.maxValueBytes = maxValueBytes
    }

    /// The default limits.
    public static let `default` = KVLimits()

    /// Throws unless `key` is non-empty and within ``maxKeyBytes``.
    public func validate(key: [UInt8]) throws(KVError) {
        guard !key.isEmpty else { throw KVError(.invalidKey, "the key is empty") }
        guard key.count <= self.maxKeyBytes else {
            throw KVError(.keyTooLarge, "the key has \(key.count) bytes; the limit is \(self.maxKeyBytes)")
        }
    }

    /// Throws unless `value` is within ``maxValueBytes``.
    public func validate(value: [UInt8]) throws(KVError) {
        guard value.count <= self.maxValueBytes else {
            throw KVError(.valueTooLarge, "the value has \(value.count) bytes; the limit is \(self.maxValueBytes)")
        }
    }
}
