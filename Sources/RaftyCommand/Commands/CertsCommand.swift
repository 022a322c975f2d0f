import ArgumentParser
import Foundation
import RaftyGRPC

#if canImport(Glibc)
    import Glibc
#endif

/// `rafty certs`: a development CA and node certificates for mutual TLS between nodes.
struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Create a development CA and certificates for nodes (mutual TLS between nodes).",
        discussion: """
            Writes ca.pem and ca-key.pem (reused if DIR already holds them) and, for each id, \
            node-ID.pem and node-ID-key.pem: ECDSA P-256, valid for a year, naming the node \
            (URI SAN rafty://node/ID) and --hosts (IP addresses and DNS names), usable as server \
            and client certificates. Keys are written readable by their owner only. Then: \
            rafty serve --peer-cert-file DIR/node-ID.pem --peer-key-file DIR/node-ID-key.pem \
            --peer-trusted-ca-file DIR/ca.pem. For production use your own PKI; any CA works if \
            each node's certificate names its node.
            """
    )

    @Option(name: .customLong("dir"), help: "Where the files go (created if missing).")
    var directory: String

    @Option(name: .customLong("nodes"), help: "Node ids, comma-separated.")
    var nodes: String = ""

    @Option(name: .customLong("client"), help: "Also a client certificate client-NAME.pem for the HTTP API (repeatable).")
    var clients: [String] = []

    @Option(help: "IP addresses and DNS names the nodes are reached at, comma-separated.")
    var hosts = "127.0.0.1,localhost"

    func nodeIDs() throws -> [UInt64] {
        let ids = self.nodes.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        guard ids.allSatisfy({ $0 != nil && $0 != 0 }), !ids.isEmpty || !self.clients.isEmpty else {
            throw ValidationError("--nodes must list non-zero node ids, comma-separated (or give --client)")
        }
        for name in self.clients where name.isEmpty || !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) {
            throw ValidationError("--client '\(name)': use letters, digits, - and _")
        }
        return ids.map { $0! }
    }

    func validate() throws {
        _ = try self.nodeIDs()
    }

    func run() throws {
        let manager = FileManager.default
        try manager.createDirectory(atPath: self.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let caPath = "\(self.directory)/ca.pem"
        let caKeyPath = "\(self.directory)/ca-key.pem"
        let authority: DevelopmentCertificates
        if manager.fileExists(atPath: caPath) || manager.fileExists(atPath: caKeyPath) {
            guard let certificate = manager.contents(atPath: caPath), let key = manager.contents(atPath: caKeyPath) else {
                throw ValidationError("\(self.directory) holds only one of ca.pem and ca-key.pem")
            }
            authority = try DevelopmentCertificates(certificatePEM: String(decoding: certificate, as: UTF8.self), keyPEM: String(decoding: key, as: UTF8.self))
            print("using the CA in \(caPath)")
        } else {
            authority = try DevelopmentCertificates()
            try Self.write(try authority.certificatePEM, to: caPath, mode: 0o644)
            try Self.write(authority.keyPEM, to: caKeyPath, mode: 0o600)
            print("created \(caPath) and \(caKeyPath)")
        }
        let hosts = self.hosts.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for id in try self.nodeIDs() {
            let issued = try authority.issue(nodeID: id, hosts: hosts)
            try Self.write(issued.certificate, to: "\(self.directory)/node-\(id).pem", mode: 0o644)
            try Self.write(issued.key, to: "\(self.directory)/node-\(id)-key.pem", mode: 0o600)
            print("created \(self.directory)/node-\(id).pem and node-\(id)-key.pem")
        }
        for name in self.clients {
            let issued = try authority.issue(clientName: name)
            try Self.write(issued.certificate, to: "\(self.directory)/client-\(name).pem", mode: 0o644)
            try Self.write(issued.key, to: "\(self.directory)/client-\(name)-key.pem", mode: 0o600)
            print("created \(self.directory)/client-\(name).pem and client-\(name)-key.pem")
        }
    }

    /// Writes a file created with `mode` (a key is never readable by others, not even briefly).
    static func write(_ text: String, to path: String, mode: mode_t) throws {
        unlink(path)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw ValidationError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw ValidationError("cannot write \(path)") }
    }
}
