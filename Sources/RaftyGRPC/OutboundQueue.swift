private import Synchronization

/// The queue of Raft messages waiting for a peer's `Exchange` stream.
///
/// Unlike `AsyncStream`, a consumer cancelled while waiting (a stream attempt that failed) does not
/// terminate the queue: the next attempt keeps consuming it. When more than `limit` messages are
/// waiting, the oldest are dropped (Raft tolerates loss; fresh messages matter most).
final class OutboundQueue<Element: Sendable>: Sendable {
    private struct State {
        var buffer: [Element] = []
        var waiter: CheckedContinuation<[Element]?, Never>?
        var finished = false
    }

    private let state = Mutex(State())
    private let limit: Int

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Adds a message; wakes the consumer.
    func push(_ element: Element) {
        let waiter: CheckedContinuation<[Element]?, Never>? = self.state.withLock { state in
            guard !state.finished else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.buffer.append(element)
            if state.buffer.count > self.limit { state.buffer.removeFirst(state.buffer.count - self.limit) }
            return nil
        }
        waiter?.resume(returning: [element])
    }

    /// Every waiting message, in order, once there is at least one; nil when the queue is finished
    /// or the calling task is cancelled (the queue itself stays usable).
    func next() async -> [Element]? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[Element]?, Never>) in
                let immediate: [Element]?? = self.state.withLock { state in
                    if !state.buffer.isEmpty {
                        defer { state.buffer = [] }
                        return .some(state.buffer)
                    }
                    if state.finished || Task.isCancelled { return .some(nil) }
                    precondition(state.waiter == nil, "OutboundQueue has a single consumer")
                    state.waiter = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = self.state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Ends the queue: the consumer gets nil, later pushes are dropped.
    func finish() {
        let waiter = self.state.withLock { state in
            state.finished = true
            state.buffer = []
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}
