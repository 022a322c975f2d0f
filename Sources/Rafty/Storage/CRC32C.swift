/// CRC-32C (Castagnoli), the checksum of every WAL record, stable-state file and snapshot.
///
/// Table-driven with slicing-by-8; the tables are computed once.
package struct CRC32C: Sendable {
    private static let tables: [[UInt32]] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var crc = UInt32(i)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[0][i] = crc
        }
        for i in 0..<256 {
            for t in 1..<8 {
                let previous = tables[t - 1][i]
                tables[t][i] = (previous >> 8) ^ tables[0][Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    private var state: UInt32 = 0xFFFF_FFFF

    /// Starts a checksum.
    package init() {}

    /// The checksum of `bytes`.
    package static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }

    /// The checksum of the bytes given so far.
    package var value: UInt32 { ~self.state }

    /// Adds bytes.
    package mutating func update(_ bytes: some Sequence<UInt8>) {
        let handled: Bool? = bytes.withContiguousStorageIfAvailable { buffer in
            self.update(buffer)
            return true
        }
        if handled == nil { self.update(Array(bytes)) }
    }

    /// Adds bytes from a buffer.
    package mutating func update(_ buffer: UnsafeBufferPointer<UInt8>) {
        let tables = Self.tables
        var crc = self.state
        var index = 0
        let count = buffer.count
        tables[0].withUnsafeBufferPointer { t0 in
            tables[1].withUnsafeBufferPointer { t1 in
                tables[2].withUnsafeBufferPointer { t2 in
                    tables[3].withUnsafeBufferPointer { t3 in
                        tables[4].withUnsafeBufferPointer { t4 in
                            tables[5].withUnsafeBufferPointer { t5 in
                                tables[6].withUnsafeBufferPointer { t6 in
                                    tables[7].withUnsafeBufferPointer { t7 in
                                        while index + 8 <= count {
                                            let low =
                                                crc
                                                ^ (UInt32(buffer[index]) | UInt32(buffer[index + 1]) << 8
                                                    | UInt32(buffer[index + 2]) << 16 | UInt32(buffer[index + 3]) << 24)
                                            crc =
                                                t7[Int(low & 0xFF)] ^ t6[Int((low >> 8) & 0xFF)]
                                                ^ t5[Int((low >> 16) & 0xFF)] ^ t4[Int(low >> 24)]
                                                ^ t3[Int(buffer[index + 4])] ^ t2[Int(buffer[index + 5])]
                                                ^ t1[Int(buffer[index + 6])] ^ t0[Int(buffer[index + 7])]
                                            index += 8
                                        }
                                        while index < count {
                                            crc = (crc >> 8) ^ t0[Int((crc ^ UInt32(buffer[index])) & 0xFF)]
                                            index += 1
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        self.state = crc
    }
}
