/// Appends big-endian integers and length-prefixed byte strings (the KV wire formats).
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) {
        self.bytes.reserveCapacity(capacity)
    }

    mutating func append(_ value: UInt8) {
        self.bytes.append(value)
    }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { self.bytes.append(contentsOf: $0) }
    }

    /// A `UInt32` length, then the bytes.
    mutating func appendField(_ field: [UInt8]) {
        self.append(UInt32(field.count))
        self.bytes.append(contentsOf: field)
    }
}

/// Reads what ``ByteWriter`` wrote; every read checks the bounds, so malformed input fails cleanly.
struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { self.offset == self.bytes.count }

    mutating func readByte() throws(KVError) -> UInt8 {
        guard self.offset < self.bytes.count else { throw Self.truncated }
        defer { self.offset += 1 }
        return self.bytes[self.offset]
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws(KVError) -> T {
        let size = MemoryLayout<T>.size
        guard self.bytes.count - self.offset >= size else { throw Self.truncated }
        var value: T = 0
        for byte in self.bytes[self.offset..<self.offset + size] { value = value << 8 | T(byte) }
        self.offset += size
        return value
    }

    mutating func readField() throws(KVError) -> [UInt8] {
        let count = Int(try self.read(UInt32.self))
        guard self.bytes.count - self.offset >= count else { throw Self.truncated }
        defer { self.offset += count }
        return Array(self.bytes[self.offset..<self.offset + count])
    }

    /// Throws unless every byte was consumed (trailing garbage means a malformed message).
    func expectEnd() throws(KVError) {
        guard self.isAtEnd else {
            throw KVError(.malformed, "\(self.bytes.count - self.offset) unexpected trailing bytes")
        }
    }

    private static let truncated = KVError(.malformed, "message ends early")
}
