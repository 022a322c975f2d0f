import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import RaftyTestSupport
import Testing

@testable import RaftyCommand

/// `rafty serve` processes with mutual TLS between nodes and HTTPS for clients, driven by
/// `rafty kv` and curl as a user would.
@Suite("rafty serve with TLS on both ports", .serialized, .timeLimit(.minutes(3)))
struct SecureClusterProcessTests {
    /// Runs a program and returns its exit status and standard output.
    static func run(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static let curl = ["/usr/bin/curl", "/bin/curl", "/usr/local/bin/curl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test("Three nodes with mutual TLS between them and client certificates on HTTPS serve rafty kv and curl; clients without a certificate are refused")
    func mutualTLSCluster() async throws {
        let cluster = try ProcessCluster(size: 3)
        defer { cluster.killAll() }
        let certs = "\(cluster.directory.path)/certs"
        let command = try #require(try RaftyCommand.parseAsRoot(["certs", "--dir", certs, "--nodes", "1,2,3", "--client", "admin"]) as? CertsCommand)
        try command.run()
        cluster.useHTTPS()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file("\(certs)/ca.pem")
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile("\(certs)/client-admin.pem").map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: "\(certs)/client-admin-key.pem", format: .pem))
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            for id in cluster.ids {
                try cluster.start(
                    id,
                    extraArguments: [
                        "--peer-cert-file", "\(certs)/node-\(id).pem", "--peer-key-file", "\(certs)/node-\(id)-key.pem",
                        "--peer-trusted-ca-file", "\(certs)/ca.pem",
                        "--cert-file", "\(certs)/node-\(id).pem", "--key-file", "\(certs)/node-\(id)-key.pem", "--trusted-ca-file", "\(certs)/ca.pem",
                    ])
            }
            try await cluster.waitUntilReady(client, nodes: cluster.ids)
            let clientFlags = ["--cacert", "\(certs)/ca.pem", "--cert", "\(certs)/client-admin.pem", "--key", "\(certs)/client-admin-key.pem"]
            let put = try Self.run(cluster.binary, ["kv", "put", "greeting", "hello", "--endpoint", cluster.url(2, "")] + clientFlags)
            #expect(put.status == 0 && put.output.hasPrefix("index"), "\(put)")
            let get = try Self.run(cluster.binary, ["kv", "get", "greeting", "--endpoint", cluster.url(3, "")] + clientFlags)
            #expect(get.status == 0 && get.output == "hello", "\(get)")
            let withoutCertificate = try Self.run(cluster.binary, ["kv", "get", "greeting", "--endpoint", cluster.url(1, ""), "--cacert", "\(certs)/ca.pem"])
            #expect(withoutCertificate.status != 0, "a client without a certificate is refused at the handshake")
            if let curl = Self.curl {
                let fetched = try Self.run(
                    curl,
                    [
                        "-sS", "--cacert", "\(certs)/ca.pem", "--cert", "\(certs)/client-admin.pem", "--key", "\(certs)/client-admin-key.pem",
                        cluster.url(1, "/v1/kv/greeting"),
                    ])
                #expect(fetched.status == 0 && fetched.output == "hello", "\(fetched)")
                let refused = try Self.run(curl, ["-sS", "--cacert", "\(certs)/ca.pem", cluster.url(1, "/v1/kv/greeting")])
                #expect(refused.status != 0)
                let plaintext = try Self.run(curl, ["-sS", "http://127.0.0.1:\(cluster.httpPorts[1]!)/v1/kv/greeting"])
                #expect(plaintext.output != "hello")
            }
        } catch {
            cluster.printLogs()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    @Test("Over HTTPS without client certificates, admin routes need the bearer token: 401 without it, 403 with another; key-value routes stay open")
    func adminToken() async throws {
        let cluster = try ProcessCluster(size: 1)
        defer { cluster.killAll() }
        let certs = "\(cluster.directory.path)/certs"
        let command = try #require(try RaftyCommand.parseAsRoot(["certs", "--dir", certs, "--nodes", "1"]) as? CertsCommand)
        try command.run()
        let tokenFile = "\(cluster.directory.path)/token"
        try Data("a-long-enough-admin-token\n".utf8).write(to: URL(fileURLWithPath: tokenFile))
        cluster.useHTTPS()
        var configuration = HTTPClient.Configuration()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file("\(certs)/ca.pem")
        configuration.tlsConfiguration = tls
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        func post(_ path: String, token: String?) async throws -> UInt {
            var request = HTTPClientRequest(url: cluster.url(1, path))
            request.method = .POST
            request.body = .bytes(ByteBuffer(string: "{}"))
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            let response = try await client.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 16)
            return response.status.code
        }
        do {
            try cluster.start(
                1,
                extraArguments: [
                    "--minimum-cluster-size", "1", "--cert-file", "\(certs)/node-1.pem", "--key-file", "\(certs)/node-1-key.pem",
                    "--auth-token-file", tokenFile,
                ])
            try await cluster.waitUntilReady(client, nodes: [1])
            for path in ["/v1/members", "/v1/leadership/transfer", "/v1/bootstrap", "/v1/members/1/demote"] {
                #expect(try await post(path, token: nil) == 401, "\(path)")
                #expect(try await post(path, token: "a-long-enough-admin-tokeN") == 403, "\(path)")
                let authorized = try await post(path, token: "a-long-enough-admin-token")
                #expect(authorized != 401 && authorized != 403, "\(path): \(authorized)")
            }
            #expect(try await cluster.put(client, node: 1, key: "k", value: "v") == .ok)
            // A backup holds every key: it is an admin route too.
            func getSnapshot(token: String?) async throws -> UInt {
                var request = HTTPClientRequest(url: cluster.url(1, "/v1/snapshot"))
                if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
                let response = try await client.execute(request, timeout: .seconds(10))
                _ = try await response.body.collect(upTo: 1 << 20)
                return response.status.code
            }
            #expect(try await getSnapshot(token: nil) == 401)
            #expect(try await getSnapshot(token: "a-long-enough-admin-tokeN") == 403)
            #expect(try await getSnapshot(token: "a-long-enough-admin-token") == 200)
            let list = try Self.run(cluster.binary, ["members", "demote", "1", "--endpoint", cluster.url(1, ""), "--cacert", "\(certs)/ca.pem"])
            #expect(list.status != 0, "the CLI without --token-file is refused")
        } catch {
            cluster.printLogs()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}
