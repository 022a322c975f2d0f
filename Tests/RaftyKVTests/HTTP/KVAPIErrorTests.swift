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
}
