import Testing

@testable import RaftyCommand

@Suite("Key percent-encoding")
struct PathSegmentTests {
    @Test(
        "Keys become one path segment",
        arguments: [
            ("plain-Key_1.~", "plain-Key_1.~"),
            ("a/b", "a%2Fb"),
            ("100%", "100%25"),
            ("what?", "what%3F"),
            ("x#y", "x%23y"),
            ("with space", "with%20space"),
            ("é", "%C3%A9"),
            ("日本", "%E6%97%A5%E6%9C%AC"),
            ("a+b&c=d", "a%2Bb%26c%3Dd"),
            (".", "%2E"),
            ("..", "%2E%2E"),
            ("", ""),
        ]
    )
    func encode(key: String, expected: String) {
        #expect(PathSegment.encode(key) == expected)
    }

    @Test("Request targets encode the key and the query")
    func target() {
        #expect(KVCommand.target(of: "a/b?") == "/v1/kv/a%2Fb%3F")
        #expect(KVCommand.target(of: "k", query: [("prev", "x y&z")]) == "/v1/kv/k?prev=x%20y%26z")
        #expect(KVCommand.target(of: "k", query: [("consistency", "stale")]) == "/v1/kv/k?consistency=stale")
    }

    @Test("Endpoints are normalised or rejected")
    func endpoints() throws {
        #expect(try ClientOptions.normalizedEndpoint("127.0.0.1:8080") == "http://127.0.0.1:8080")
        #expect(try ClientOptions.normalizedEndpoint("http://h:1//") == "http://h:1")
        #expect(throws: (any Error).self) { try ClientOptions.normalizedEndpoint("http://") }
        #expect(throws: (any Error).self) { try ClientOptions.normalizedEndpoint("http://h:1/path") }
    }
}
