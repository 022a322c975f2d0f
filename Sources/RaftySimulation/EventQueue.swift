/// A min-heap of timed events; ties break by insertion order so runs are deterministic.
struct EventQueue<Payload: Sendable>: Sendable {
    private struct Item: Sendable {
        var time: UInt64
        var sequence: UInt64
        var payload: Payload
    }

    /// Whether the item at `a` comes before the one at `b`. Compares fields in place: copying an
    /// item (and its payload) or comparing tuples is costly in debug builds.
    private func precedes(_ a: Int, _ b: Int) -> Bool {
        let timeA = self.heap[a].time
        let timeB = self.heap[b].time
        return timeA < timeB || (timeA == timeB && self.heap[a].sequence < self.heap[b].sequence)
    }

    private var heap: [Item] = []
    private var sequence: UInt64 = 0

    var isEmpty: Bool { self.heap.isEmpty }
    var count: Int { self.heap.count }
    var nextTime: UInt64? { self.heap.first?.time }

    mutating func push(_ payload: Payload, at time: UInt64) {
        self.sequence += 1
        self.heap.append(Item(time: time, sequence: self.sequence, payload: payload))
        var child = self.heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.precedes(child, parent) else { break }
            self.heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (time: UInt64, payload: Payload)? {
        guard !self.heap.isEmpty else { return nil }
        self.heap.swapAt(0, self.heap.count - 1)
        let item = self.heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < self.heap.count && self.precedes(left, smallest) { smallest = left }
            if right < self.heap.count && self.precedes(right, smallest) { smallest = right }
            if smallest == parent { break }
            self.heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (item.time, item.payload)
    }
}
