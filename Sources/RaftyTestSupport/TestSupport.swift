// Test helpers shared by the test targets (not a product): a recording state machine, waiting
// for conditions with deadlines, temporary directories.
public import RaftCore
public import Rafty
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A key/value state machine for tests: commands are `key=value`, queries are
/// keys; it records the order in which it applied commands. With `padding`, every snapshot
/// carries that many extra bytes (to exercise large snapshot transfers).
public final class RecordingStateMachine: StateMachine {
    private let state = Mutex<(values: [String: String], log: [String], restoredSizes: [Int])>(([:], [], []))
    /// Extra bytes every snapshot carries.
    public let padding: Int
    /// The padding bytes, made once (building 17 MiB per snapshot in a debug build would stall the
    /// node's event loop for longer than an election timeout).
    private let paddingBytes: [UInt8]

    /// Creates an empty state machine.
    public init(padding: Int = 0) {
        self.padding = padding
        self.paddingBytes = padding > 0 ? (0..<padding).map { UInt8(truncatingIfNeeded: $0 &* 31) } : []
    }

    /// The commands applied (or restored), in order.
    public var appliedCommands: [String] { self.state.withLock { $0.log } }
    /// The size of every snapshot restored.
    public var restoredSizes: [Int] { self.state.withLock { $0.restoredSizes } }
    /// How often the state machine was restored from a snapshot.
    public var restoreCount: Int { self.restoredSizes.count }

    /// See ``StateMachine``.
    public func apply(_ commands: [CommittedCommand]) async throws -> [[UInt8]] {
        self.state.withLock { state in
            commands.map { command in
                let text = String(decoding: command.bytes, as: UTF8.self)
                state.log.append(text)
                let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { state.values[parts[0]] = parts[1] }
                return Array("ok \(state.log.count)".utf8)
            }
        }
    }

    /// See ``StateMachine``.
    public func query(_ request: [UInt8]) async throws -> [UInt8] {
        Array((self.state.withLock { $0.values[String(decoding: request, as: UTF8.self)] } ?? "").utf8)
    }

    /// See ``StateMachine``.
    public func snapshot(to output: SnapshotOutput) async throws {
        var bytes = self.state.withLock { state in Array((state.log.joined(separator: "\n")).utf8) }
        if self.padding > 0 {
            bytes.append(0)
            bytes.append(contentsOf: self.paddingBytes)
        }
        // Several chunks, so the runtime's streaming path is exercised.
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + (1 << 20))
            try output.write(Array(bytes[offset..<end]))
            offset = end
        }
    }

    /// See ``StateMachine``.
    public func restore(from input: SnapshotInput) async throws {
        let snapshot = try input.readAll()
        let end = snapshot.firstIndex(of: 0) ?? snapshot.endIndex
        if end < snapshot.endIndex {
            let tail = snapshot[(end + 1)...]
            let intact =
                tail.count == self.paddingBytes.count
                && tail.withUnsafeBytes { a in self.paddingBytes.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 } }
            guard intact else { throw TimedOut(description: "corrupt snapshot padding") }
        }
        let log = String(decoding: snapshot[..<end], as: UTF8.self).split(separator: "\n").map(String.init)
        self.state.withLock { state in
            state.restoredSizes.append(snapshot.count)
            state.log = log
            state.values = [:]
            for text in log {
                let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { state.values[parts[0]] = parts[1] }
            }
        }
    }
}

/// A condition that did not hold in time.
public struct TimedOut: Error, CustomStringConvertible {
    /// What was awaited.
    public var description: String
    /// Creates the error.
    public init(description: String) { self.description = description }
}

/// Polls `condition` until it holds or `timeout` passes (then throws with `message`).
public func eventually(
    _ message: @autoclosure () -> String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw TimedOut(description: "timed out waiting: \(message())")
}

/// A fresh directory under /tmp, removed by ``remove()``.
public struct TemporaryDirectory: Sendable {
    /// The directory.
    public let path: String

    /// Creates a directory named `/tmp/<prefix>-XXXXXX`.
    public init(_ prefix: String = "rafty-test") {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed")
        self.path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    /// Deletes the directory and everything in it.
    public func remove() {
        _ = system("rm -rf '\(self.path)'")
    }
}

extension RaftNode.Status {
    /// The members' roles by id (voter or not), for compact expectations in tests.
    public var roles: [NodeID: Bool] {
        Dictionary(uniqueKeysWithValues: self.members.map { ($0.id, $0.isVoter) })
    }
}
