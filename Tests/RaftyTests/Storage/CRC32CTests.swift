import Rafty
import Testing

@Suite("CRC32C")
struct CRC32CTests {
    @Test(
        "Standard check value and RFC 3720 vectors",
        arguments: [
            (Array("123456789".utf8), UInt32(0xE306_9283)),
            ([UInt8](repeating: 0, count: 32), UInt32(0x8A91_36AA)),
            ([UInt8](repeating: 0xFF, count: 32), UInt32(0x62A8_AB43)),
            ((0..<32).map { UInt8($0) }, UInt32(0x46DD_794E)),
            ((0..<32).reversed().map { UInt8($0) }, UInt32(0x113F_DB5C)),
            ([], UInt32(0)),
        ])
    func vectors(bytes: [UInt8], expected: UInt32) {
        #expect(CRC32C.checksum(bytes) == expected)
    }

    @Test("Incremental updates give the same checksum as one pass, at every split point")
    func incremental() {
        let bytes = (0..<100).map { UInt8(($0 * 37 + 11) % 256) }
        let whole = CRC32C.checksum(bytes)
        for split in 0...bytes.count {
            var crc = CRC32C()
            crc.update(bytes[..<split])
            crc.update(bytes[split...])
            #expect(crc.value == whole)
        }
    }
}
