import ArgumentParser
import Foundation
import Logging
import Rafty
import RaftyTestSupport
import Testing

@testable import RaftyCommand

/// `rafty certs` and the TLS / plaintext rules of `rafty serve`.
@Suite("Peer TLS flags and rafty certs")
struct PeerSecurityFlagsTests {
    func parseServe(_ arguments: [String]) throws -> ServeCommand {
        try #require(try RaftyCommand.parseAsRoot(["serve"] + arguments) as? ServeCommand)
    }

    @Test("Plaintext is refused on a non-loopback gRPC or HTTP address unless --insecure-plaintext")
    func plaintextOnlyOnLoopback() throws {
        #expect(throws: (any Error).self) { try self.parseServe(["--id", "1", "--address", "10.0.0.1:7001"]) }
        #expect(throws: (any Error).self) { try self.parseServe(["--id", "1", "--address", "node1.example:7001"]) }
        #expect(throws: (any Error).self) { try self.parseServe(["--id", "1", "--http", "0.0.0.0:8080"]) }
        _ = try self.parseServe(["--id", "1", "--address", "10.0.0.1:7001", "--http", "0.0.0.0:8080", "--insecure-plaintext"])
        _ = try self.parseServe(["--id", "1", "--address", "127.0.0.2:7001", "--http", "localhost:8080"])
        _ = try self.parseServe(["--id", "1", "--address", "127.0.0.1"])
    }

    @Test("rafty certs writes a CA and node certificates (keys readable by their owner only) that rafty serve accepts for their node only")
    func certsAndServeFlags() throws {
        let directory = TemporaryDirectory("rafty-certs-command")
        let certs = "\(directory.path)/certs"
        var command = try #require(try RaftyCommand.parseAsRoot(["certs", "--dir", certs, "--nodes", "1,2"]) as? CertsCommand)
        try command.run()
        for key in ["ca-key.pem", "node-1-key.pem", "node-2-key.pem"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(certs)/\(key)")
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(key)")
        }
        let caBefore = try String(contentsOfFile: "\(certs)/ca.pem", encoding: .utf8)
        command = try #require(try RaftyCommand.parseAsRoot(["certs", "--dir", certs, "--nodes", "3"]) as? CertsCommand)
        try command.run()
        #expect(try String(contentsOfFile: "\(certs)/ca.pem", encoding: .utf8) == caBefore, "a second run reuses the CA")

        func tlsFlags(_ node: Int) -> [String] {
            ["--peer-cert-file", "\(certs)/node-\(node).pem", "--peer-key-file", "\(certs)/node-\(node)-key.pem", "--peer-trusted-ca-file", "\(certs)/ca.pem"]
        }
        let serve = try self.parseServe(["--id", "2", "--address", "10.0.0.2:7002"] + tlsFlags(2))
        #expect(try serve.peerTLS() != nil)
        #expect(throws: (any Error).self) { try self.parseServe(["--id", "1", "--address", "10.0.0.1:7001"] + tlsFlags(2)) }
        #expect(throws: (any Error).self) { try self.parseServe(["--id", "2", "--peer-cert-file", "\(certs)/node-2.pem"]) }
        #expect(throws: (any Error).self) { try RaftyCommand.parseAsRoot(["certs", "--dir", certs, "--nodes", "0"]) }
    }

    @Test("rafty serve keeps state in ./rafty-<id>.data by default, and refuses --in-memory in a cluster unless --unsafe-in-memory-cluster")
    func persistentDefaults() throws {
        let serve = try self.parseServe(["--id", "3"])
        #expect(try serve.nodeConfiguration(logger: .init(label: "test")).dataDirectory == "./rafty-3.data")
        #expect(throws: (any Error).self) { try self.parseServe(["--id", "1", "--in-memory", "--peers", "127.0.0.1:7002"]) }
        _ = try self.parseServe(["--id", "1", "--in-memory", "--peers", "127.0.0.1:7002", "--unsafe-in-memory-cluster"])
        _ = try self.parseServe(["--id", "1", "--in-memory", "--minimum-cluster-size", "1"])
    }

    @Test("--max-value-size is checked against the peer transport's message limit at start-up")
    func valueSizeBelowTransportLimit() throws {
        _ = try self.parseServe(["--id", "1", "--max-value-size", "\(16 << 20)"])
        #expect(throws: (any Error).self) { try self.parseServe(["--id", "1", "--max-value-size", "\(32 << 20)"]) }
    }
}
