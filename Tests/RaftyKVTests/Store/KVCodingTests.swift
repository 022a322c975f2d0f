import RaftyKV
import Testing

@Suite("KV command, result and query encodings")
struct KVCodingTests {
    static let commands: [KVCommand] = [
        .put(key: Array("k".utf8), value: Array("v".utf8)),
        .put(key: [0, 255, 10], value: []),
        .delete(key: Array("gone".utf8)),
        .compareAndSet(key: Array("k".utf8), expected: Array("old".utf8), new: Array("new".utf8)),
        .compareAndSet(key: Array("k".utf8), expected: [], new: Array("new".utf8)),
        .compareAndSet(key: Array("k".utf8), expected: nil, new: Array("created".utf8)),
        .put(key: Array("big".utf8), value: [UInt8](repeating: 7, count: 70_000)),
    ]

    @Test("Commands round-trip", arguments: commands)
    func commandRoundTrip(command: KVCommand) throws {
        #expect(try KVCommand(decoding: command.encoded()) == command)
    }

    @Test(
        "Results round-trip",
        arguments: [
            KVResult(index: 1, outcome: .put),
            KVResult(index: .max, outcome: .deleted(existed: true)),
            KVResult(index: 7, outcome: .deleted(existed: false)),
            KVResult(index: 8, outcome: .compareAndSet(swapped: true)),
            KVResult(index: 9, outcome: .compareAndSet(swapped: false)),
            KVResult(index: 10, outcome: .invalidCommand(reason: "unknown command version 9")),
        ])
    func resultRoundTrip(result: KVResult) throws {
        #expect(try KVResult(decoding: result.encoded()) == result)
    }

    @Test("Queries and answers round-trip")
    func queryRoundTrip() throws {
        let query = KVQuery.get(key: Array("ключ".utf8))
        #expect(try KVQuery(decoding: query.encoded()) == query)
        #expect(try KVQuery.decodeAnswer(KVQuery.encodeAnswer(nil)) == nil)
        #expect(try KVQuery.decodeAnswer(KVQuery.encodeAnswer([])) == [])
        #expect(try KVQuery.decodeAnswer(KVQuery.encodeAnswer([1, 2, 3])) == [1, 2, 3])
    }

    @Test("Every truncation or extension of a command is refused, never a crash", arguments: commands.prefix(6))
    func malformedCommands(command: KVCommand) {
        let bytes = command.encoded()
        for end in 0..<bytes.count {
            #expect(throws: KVError.self) { try KVCommand(decoding: Array(bytes[..<end])) }
        }
        #expect(throws: KVError.self) { try KVCommand(decoding: bytes + [0]) }
    }

    @Test("Unknown versions and opcodes are refused")
    func unknownVersions() {
        var command = KVCommand.delete(key: [1]).encoded()
        command[0] = 2
        #expect(throws: KVError.self) { try KVCommand(decoding: command) }
        command[0] = 1
        command[1] = 99
        #expect(throws: KVError.self) { try KVCommand(decoding: command) }
        #expect(throws: KVError.self) { try KVResult(decoding: [1, 0, 0, 0, 0, 0, 0, 0, 1, 42]) }
        #expect(throws: KVError.self) { try KVResult(decoding: [1, 0, 0, 0, 0, 0, 0, 0, 1, 2, 7]) }
        #expect(throws: KVError.self) { try KVQuery(decoding: [1, 2, 0, 0, 0, 0]) }
        #expect(throws: KVError.self) { try KVQuery.decodeAnswer([1, 2]) }
    }

    @Test("Limits refuse empty and oversized keys and oversized values")
    func limits() throws {
        let limits = KVLimits(maxKeyBytes: 4, maxValueBytes: 8)
        #expect { try limits.validate(key: []) } throws: { ($0 as? KVError)?.code == .invalidKey }
        #expect { try limits.validate(key: [1, 2, 3, 4, 5]) } throws: { ($0 as? KVError)?.code == .keyTooLarge }
        #expect { try limits.validate(value: [UInt8](repeating: 0, count: 9)) } throws: { ($0 as? KVError)?.code == .valueTooLarge }
        try limits.validate(key: [1, 2, 3, 4])
        try limits.validate(value: [UInt8](repeating: 0, count: 8))
        #expect(KVLimits.default.maxKeyBytes == 1024 && KVLimits.default.maxValueBytes == 1 << 20)
    }
}
