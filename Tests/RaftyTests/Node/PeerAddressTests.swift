import Rafty
import RaftyTestSupport
import Testing

@Suite("Peer addresses")
struct PeerAddressTests {
    @Test(
        "IPv4, IPv6 and host names are accepted, with the default port added where it is missing",
        arguments: [
            ("10.0.0.1", "10.0.0.1:50051"),
            ("10.0.0.1:7000", "10.0.0.1:7000"),
            ("[::1]", "[::1]:50051"),
            ("[::1]:7000", "[::1]:7000"),
            ("::1", "[::1]:50051"),
            ("[fe80:0:0:0::2]:65535", "[fe80::2]:65535"),
            ("2001:DB8::1", "[2001:db8::1]:50051"),
            ("localhost", "localhost:50051"),
            ("Node-1.Example.com:1", "node-1.example.com:1"),
            ("node-1.example.com.:7000", "node-1.example.com.:7000"),
        ])
    func accepted(text: String, normalized: String) throws {
        #expect(try PeerAddress(parsing: text).description == normalized)
        // The normalized form parses to itself: nodes compare addresses by it.
        #expect(try PeerAddress(parsing: normalized).description == normalized)
    }

    @Test(
        "Ports outside 1...65535, bad literals and names, and ambiguous IPv6 are refused",
        arguments: [
            "", ":7000", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:-1", "10.0.0.1:http",
            "256.1.1.1", "10.0.0", "10.0.0.1.2:7000", "[::1", "[::1]7000", "[::1]:0", "[10.0.0.1]:7000",
            "::1:7000:", "fe80::2::3", "-node:7000", "node-:7000", "no de:7000", "node_1:7000", "a..b:7000",
            "é.example.com", String(repeating: "a", count: 64) + ".example.com",
        ])
    func refused(text: String) {
        #expect(throws: RaftError.self) { try PeerAddress(parsing: text) }
    }

    @Test("A port can be required; loopback hosts are told apart")
    func requiredPortAndLoopback() throws {
        #expect(throws: RaftError.self) { try PeerAddress(parsing: "127.0.0.1", defaultPort: nil) }
        #expect(try PeerAddress(parsing: "127.0.0.1:8080", defaultPort: nil).port == 8080)
        for loopback in ["127.0.0.1", "127.9.9.9:1", "[::1]:1", "localhost:1", "LOCALHOST"] {
            #expect(try PeerAddress(parsing: loopback).isLoopback, "\(loopback)")
        }
        for other in ["10.0.0.1", "[::2]:1", "example.com", "0.0.0.0"] {
            #expect(try !PeerAddress(parsing: other).isLoopback, "\(other)")
        }
        #expect(try PeerAddress(parsing: "[::1]:1").hostText == "::1")
        #expect(throws: RaftError.self) { try PeerAddress(host: .ipv4("10.0.0.1"), port: 0) }
        #expect(try PeerAddress(host: .ipv6("0:0::1"), port: 1).description == "[::1]:1")
    }

    @Test("Node configuration and membership changes take the same addresses")
    func configurationUsesPeerAddress() throws {
        var configuration = RaftNode.Configuration(id: 1)
        configuration.address = "[::1]:7001"
        configuration.peers = ["::1", "[::1]:7001", "node-2.example.com:7002"]
        let node = try RaftNode(configuration: configuration, stateMachine: RecordingStateMachine(), transport: InProcessNetwork())
        #expect(node.status.address == "[::1]:7001")
        configuration.peers = ["10.0.0.1:0"]
        #expect {
            _ = try RaftNode(configuration: configuration, stateMachine: RecordingStateMachine(), transport: InProcessNetwork())
        } throws: { error in
            let error = error as? RaftError
            return error?.code == .invalidConfiguration && error?.message.hasPrefix("peers:") == true
        }
    }
}
