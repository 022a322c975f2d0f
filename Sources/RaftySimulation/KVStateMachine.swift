public import RaftCore
public import Rafty

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
    ///
    /// - Throws: ``KVStateMachineError`` if the bytes are not a snapshot.
    public init(snapshot bytes: [UInt8]) throws(KVStateMachineError) {
        self.values = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let pair = line.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, let value = Int(pair[1]) else { throw KVStateMachineError(message: "not a snapshot line: \(line)") }
            self.values[String(pair[0])] = value
        }
    }

    /// Encodes a result as the answer bytes.
    public static func encode(_ result: KVResult) -> [UInt8] {
        switch result {
        case .written: Array("w".utf8)
        case .cas(let swapped): Array((swapped ? "c1" : "c0").utf8)
        case .read(let value): Array("r\(value.map(String.init) ?? "-")".utf8)
        }
    }

    /// Decodes answer bytes, or nil if they are not an answer.
    public static func decodeResult(_ bytes: [UInt8]) -> KVResult? {
        let text = String(decoding: bytes, as: UTF8.self)
        switch text {
        case "w": return .written
        case "c1": return .cas(swapped: true)
        case "c0": return .cas(swapped: false)
        case "r-": return .read(nil)
        default:
            guard text.hasPrefix("r"), let value = Int(text.dropFirst()) else { return nil }
            return .read(value)
        }
    }
}

extension KVStateMachine: DeterministicStateMachine {
    /// Applies a command and answers its encoded result (empty for bytes that are not a command).
    public mutating func apply(_ command: CommittedCommand) -> [UInt8] {
        self.apply(command.bytes).map(Self.encode) ?? []
    }

    /// Answers an encoded read.
    ///
    /// - Throws: ``KVStateMachineError`` for anything but a read.
    public func query(_ request: [UInt8]) throws -> [UInt8] {
        guard case .read(let key)? = Self.decode(request) else { throw KVStateMachineError(message: "not a read") }
        return Self.encode(.read(self.values[key]))
    }
}

/// Bytes the ``KVStateMachine`` cannot read.
public struct KVStateMachineError: Error, Sendable, Hashable {
    /// What was wrong.
    public var message: String
}
