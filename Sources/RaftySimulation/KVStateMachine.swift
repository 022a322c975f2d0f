import RaftCore

/// The replicated key/value model the simulator's nodes apply: registers with write and
/// compare-and-set, serialized to bytes for log entries and snapshots.
public struct KVStateMachine: Sendable, Hashable {
    /// The current contents.
    public private(set) var values: [String: Int] = [:]

    /// Creates an empty state machine.
    public init() {}

    /// Applies a committed command and returns its result, or nil if the bytes are not a KV command
    /// (the classic scenario tests replicate opaque commands too).
    public mutating func apply(_ command: [UInt8]) -> KVResult? {
        guard let operation = Self.decode(command) else { return nil }
        switch operation {
        case .read(let key):
            return .read(self.values[key])
        case .write(let key, let value):
            self.values[key] = value
            return .written
        case .cas(let key, let expected, let new):
            guard self.values[key] == expected else { return .cas(swapped: false) }
            self.values[key] = new
            return .cas(swapped: true)
        }
    }

    /// Encodes an operation as a log command.
    public static func encode(_ operation: KVOperation) -> [UInt8] {
        let text: String
        switch operation {
        case .read(let key): text = "R \(key)"
        case .write(let key, let value): text = "W \(key) \(value)"
        case .cas(let key, let expected, let new): text = "C \(key) \(expected.map(String.init) ?? "-") \(new)"
        }
        return Array(text.utf8)
    }

    /// Decodes a log command, or nil if it is not one.
    public static func decode(_ bytes: [UInt8]) -> KVOperation? {
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: " ").map(String.init)
        switch (parts.first, parts.count) {
        case ("R", 2): return .read(key: parts[1])
        case ("W", 3): return Int(parts[2]).map { .write(key: parts[1], value: $0) }
        case ("C", 4):
            guard let new = Int(parts[3]) else { return nil }
            if parts[2] == "-" { return .cas(key: parts[1], expected: nil, new: new) }
            return Int(parts[2]).map { .cas(key: parts[1], expected: $0, new: new) }
        default: return nil
        }
    }

    /// The snapshot bytes: every key and value, in key order.
    public func snapshot() -> [UInt8] {
        Array(self.values.keys.sorted().map { "\($0)=\(self.values[$0]!)" }.joined(separator: "\n").utf8)
    }

    /// Restores from snapshot bytes.
    public init?(snapshot bytes: [UInt8]) {
        self.values = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let pair = line.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, let value = Int(pair[1]) else { return nil }
            self.values[String(pair[0])] = value
        }
    }
}
