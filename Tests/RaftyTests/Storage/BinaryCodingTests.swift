import RaftCore
import Testing

@testable import Rafty

@Suite("Binary coding of entries")
struct BinaryCodingTests {
    static func encoded(_ entry: Entry) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(entry)
        return writer.bytes
    }

    static func decoded(_ bytes: [UInt8]) throws -> Entry {
        var reader = BinaryReader(bytes)
        return try reader.readEntry()
    }

    @Test("A configuration entry without incarnations keeps tag 3 (older builds read it); with them it is tag 4; both read back")
    func configurationTags() throws {
        let plain = Entry(term: 2, index: 9, payload: .configuration(ClusterConfiguration(voters: [1, 2], addresses: [1: "h:1"])))
        let recorded = Entry(
            term: 2, index: 9,
            payload: .configuration(ClusterConfiguration(voters: [1, 2], learners: [5], addresses: [1: "h:1"], incarnations: [1: 77, 5: 1])))
        #expect(Self.encoded(plain)[16] == 3)
        #expect(Self.encoded(recorded)[16] == 4)
        #expect(try Self.decoded(Self.encoded(plain)) == plain)
        #expect(try Self.decoded(Self.encoded(recorded)) == recorded)
    }

    @Test("A tag-4 entry cut short at any byte, or claiming more incarnations than it holds, throws instead of crashing")
    func truncatedIncarnations() throws {
        let entry = Entry(term: 1, index: 1, payload: .configuration(ClusterConfiguration(voters: [1], incarnations: [1: 9])))
        let bytes = Self.encoded(entry)
        for length in 0..<bytes.count {
            #expect(throws: BinaryReader.Truncated.self) { _ = try Self.decoded(Array(bytes[..<length])) }
        }
        var inflated = bytes
        inflated[inflated.count - 20] = 0xFF  // the incarnation count's low byte
        #expect(throws: BinaryReader.Truncated.self) { _ = try Self.decoded(inflated) }
    }
}
