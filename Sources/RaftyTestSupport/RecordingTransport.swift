public import RaftCore
public import Rafty
import Synchronization

/// Wraps a transport and records every message sent through it.
public final class RecordingTransport: WrappingTransport {
    /// The transport underneath.
    public let inner: any RaftTransport
    private let sent = Mutex<[Message]>([])
    private let snapshots = Mutex<[Int]>([])

    /// Sizes of the snapshots sent.
    public var sentSnapshotSizes: [Int] { self.snapshots.withLock { $0 } }

    /// Wraps `inner`.
    public init(_ inner: any RaftTransport) { self.inner = inner }

    /// The messages sent, in order.
    public var sentMessages: [Message] { self.sent.withLock { $0 } }

    /// Records and sends.
    public func send(_ message: Message, snapshot: [UInt8]?, to address: String) async {
        self.sent.withLock { $0.append(message) }
        if let snapshot { self.snapshots.withLock { $0.append(snapshot.count) } }
        await self.inner.send(message, snapshot: snapshot, to: address)
    }

    /// Records and sends.
    public func sendSnapshot(_ message: Message, from source: SnapshotSource, to address: String) async -> Bool {
        self.sent.withLock { $0.append(message) }
        self.snapshots.withLock { $0.append(source.size) }
        return await self.inner.sendSnapshot(message, from: source, to: address)
    }

    /// Records and disconnects.
    public func disconnect(from address: String) {
        self.disconnected.withLock { $0.append(address) }
        self.inner.disconnect(from: address)
    }

    /// Addresses the node asked to disconnect from.
    public var disconnectedAddresses: [String] { self.disconnected.withLock { $0 } }
    private let disconnected = Mutex<[String]>([])
}
