extension Message {
    /// The indices of the evicted commands an append carries (``Entry/Payload/evictedCommand(byteCount:)``),
    /// which the host must read back from its log store before sending it; nil if there are none.
    public var evictedRange: ClosedRange<UInt64>? {
        guard case .append(let request) = self.body else { return nil }
        var range: ClosedRange<UInt64>?
        for entry in request.entries {
            guard case .evictedCommand = entry.payload else { continue }
            range = range.map { $0.lowerBound...entry.index } ?? entry.index...entry.index
        }
        return range
    }

    /// This append with its evicted commands replaced by `stored` (entries read from the log
    /// store, covering ``evictedRange``); nil if one is missing or is not the same entry (another
    /// term or a different kind), in which case the message must not be sent.
    public func hydrating(_ stored: [Entry]) -> Message? {
        guard case .append(var request) = self.body else { return self }
        let byIndex = Dictionary(stored.map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })
        for position in request.entries.indices {
            guard case .evictedCommand(let byteCount) = request.entries[position].payload else { continue }
            let entry = request.entries[position]
            guard let found = byIndex[entry.index], found.term == entry.term,
                case .command(let bytes) = found.payload, bytes.count == byteCount
            else { return nil }
            request.entries[position] = found
        }
        var message = self
        message.body = .append(request)
        return message
    }
}
