import ArgumentParser
import Foundation
import NIOSSL

/// How a client command reaches an HTTPS API and authenticates: `--cacert`, `--cert`, `--key`
/// (curl's names) and `--token-file`. Shared by every client option group.
struct ClientSecurityOptions: ParsableArguments {
    @Option(help: ArgumentHelp("CA certificate (PEM) that signed the server's HTTPS certificate.", valueName: "pem"))
    var cacert: String?

    @Option(help: ArgumentHelp("Client certificate (PEM), for a server that requires one.", valueName: "pem"))
    var cert: String?

    @Option(help: ArgumentHelp("Private key (PEM) of --cert.", valueName: "pem"))
    var key: String?

    @Option(
        name: .customLong("token-file"),
        help: ArgumentHelp("File holding the bearer token of the admin routes (rafty serve --auth-token-file).", valueName: "path"))
    var tokenFile: String?

    mutating func validate() throws {
        guard (self.cert == nil) == (self.key == nil) else { throw ValidationError("--cert and --key go together") }
        _ = try self.security()
    }

    /// The TLS configuration and token the options describe.
    func security() throws -> ClientSecurity {
        var security = ClientSecurity()
        if self.cacert != nil || self.cert != nil {
            var tls = TLSConfiguration.makeClientConfiguration()
            do {
                if let cacert = self.cacert { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(cacert)) }
                if let cert = self.cert, let key = self.key {
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                }
            } catch {
                throw ValidationError("cannot read --cacert, --cert or --key: \(error)")
            }
            security.tls = tls
        }
        if let tokenFile = self.tokenFile {
            guard let data = FileManager.default.contents(atPath: tokenFile) else { throw ValidationError("cannot read --token-file \(tokenFile)") }
            let token = String(decoding: data, as: UTF8.self).trimmingWhitespace()
            guard !token.isEmpty else { throw ValidationError("--token-file \(tokenFile) is empty") }
            security.token = token
        }
        return security
    }
}

/// What ``ClientSecurityOptions`` resolve to.
struct ClientSecurity: Sendable {
    /// TLS for `https://` endpoints (nil: the system's trust roots, no client certificate).
    var tls: TLSConfiguration?
    /// Sent as `Authorization: Bearer <token>` on every request.
    var token: String?
}
