// libFuzzer target: RaftyKV's command, query and result decoding (bytes from the log and from
// peers) and the HTTP API's percent-decoding of paths and query strings. Built by
// scripts/fuzz.sh from RaftCore, RaftError and those RaftyKV files only.
import RaftCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    // Whatever decodes encodes back to bytes that decode to the same value.
    if let command = try? KVCommand(decoding: bytes) {
        precondition((try? KVCommand(decoding: command.encoded())) == command, "command round trip: \(command)")
    }
    if let query = try? KVQuery(decoding: bytes) {
        precondition((try? KVQuery(decoding: query.encoded())) == query, "query round trip: \(query)")
    }
    if let result = try? KVResult(decoding: bytes) {
        precondition((try? KVResult(decoding: result.encoded())) == result, "result round trip: \(result)")
    }
    if let answer = try? KVQuery.decodeAnswer(bytes) {
        precondition((try? KVQuery.decodeAnswer(KVQuery.encodeAnswer(answer))) == answer, "answer round trip")
    }
    let text = String(decoding: bytes, as: UTF8.self)
    if let decoded = PercentEncoding.decode(Substring(text)) {
        precondition(decoded.count <= text.utf8.count, "percent-decoding grew the text")
    }
    if let pairs = PercentEncoding.decodeQuery(text) {
        precondition(pairs.count <= text.utf8.count, "more query pairs than bytes")
    }
    return 0
}
