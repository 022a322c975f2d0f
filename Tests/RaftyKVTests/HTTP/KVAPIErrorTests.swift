import Foundation
import Hummingbird
import Rafty
import Testing

@testable import RaftyKV

/// How runtime errors become HTTP answers: the status promises "not applied" or "outcome unknown".
@Suite("HTTP error mapping")
struct KVAPIErrorTests {
    @Test("An overloaded cluster answers 429 with Retry-After for writes and reads (not applied)")
    func overloadedIs429() {
        for operation in [KVAPIError.Operation.write, .read] {
            let error = KVAPIError(RaftError(.overloaded, "8192 entries wait to be applied"), operation: operation, leader: nil)
            #expect(error.status == .tooManyRequests)
            #expect(error.code == "overloaded")
            #expect(error.message.contains("not applied"))
            #expect(error.response().headers[.retryAfter] == "1")
        }
    }

    @Test("A timed-out write is 504 'outcome unknown', without Retry-After")
    func timedOutWriteIs504() {
        let error = KVAPIError(RaftError(.timedOut, "no answer"), operation: .write, leader: nil)
        #expect(error.status == .gatewayTimeout)
        #expect(error.message.contains("unknown"))
        #expect(error.response().headers[.retryAfter] == nil)
    }

    @Test("The error body is JSON that decodes to the code, message and leader, whatever characters they hold")
    func bodyIsValidJSON() throws {
        struct Body: Decodable, Equatable {
            struct Detail: Decodable, Equatable {
                var code: String
                var message: String
                var leader: String?
            }
            var error: Detail
        }
        let messages = [
            "plain", #"a "quoted" \ back\slash / slash"#, "line\nbreak\ttab\r\u{01}\u{1F}\u{7F}", "ünïcødé ✓ 🚀", "",
        ]
        for message in messages {
            for leader in [nil, "127.0.0.1:7101", "\"odd\""] {
                let error = KVAPIError(.notFound, "not_found", message, leader: leader)
                let decoded = try JSONDecoder().decode(Body.self, from: Data(error.body))
                #expect(decoded == Body(error: .init(code: "not_found", message: message, leader: leader)))
            }
        }
        #expect(String(decoding: KVAPIError(.notFound, "not_found", "gone").body, as: UTF8.self) == #"{"error":{"code":"not_found","message":"gone"}}"#)
    }
}
