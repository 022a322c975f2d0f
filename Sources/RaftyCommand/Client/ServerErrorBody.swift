internal import Foundation

/// The HTTP API's error body: `{"error": {"code": "...", "message": "...", "leader": "..."}}`.
///
/// Decoded leniently: any field may be missing, and `leader` may be a string or a number.
struct ServerErrorBody: Decodable, Equatable {
    /// The `error` object.
    struct Detail: Decodable, Equatable {
        /// Machine-readable code such as `no_leader`.
        var code: String?
        /// Human-readable message.
        var message: String?
        /// The leader, when the server knows it.
        var leader: String?

        private enum CodingKeys: String, CodingKey { case code, message, leader }

        /// Creates a detail from its parts.
        init(code: String?, message: String?, leader: String?) {
            self.code = code
            self.message = message
            self.leader = leader
        }

        /// Decodes leniently (see ``ServerErrorBody``).
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.code = try? container.decodeIfPresent(String.self, forKey: .code)
            self.message = try? container.decodeIfPresent(String.self, forKey: .message)
            self.leader = LenientText.decode(container, .leader)
        }
    }

    /// The error detail.
    var error: Detail

    /// Parses `body`; nil when it is not the API's error JSON.
    static func parse(_ body: [UInt8]) -> Detail? {
        try? JSONDecoder().decode(ServerErrorBody.self, from: Data(body)).error
    }
}

/// Decodes a JSON value that may be a string, a number or a boolean, as text.
enum LenientText {
    /// The value at `key` as text, or nil if it is absent, null or an object.
    static func decode<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, _ key: Key) -> String? {
        if let text = try? container.decodeIfPresent(String.self, forKey: key) { return text }
        if let number = try? container.decodeIfPresent(UInt64.self, forKey: key) { return String(number) }
        if let number = try? container.decodeIfPresent(Int64.self, forKey: key) { return String(number) }
        if let number = try? container.decodeIfPresent(Double.self, forKey: key) { return String(number) }
        if let flag = try? container.decodeIfPresent(Bool.self, forKey: key) { return String(flag) }
        return nil
    }
}
