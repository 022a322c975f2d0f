internal import Foundation

/// The answer to a write: `{"index": N}`, the log index at which it was committed.
struct IndexBody: Decodable {
    /// The commit index.
    var index: UInt64

    /// The index in `body`, or nil when it is not such an answer.
    static func parse(_ body: [UInt8]) -> UInt64? {
        try? JSONDecoder().decode(IndexBody.self, from: Data(body)).index
    }
}
