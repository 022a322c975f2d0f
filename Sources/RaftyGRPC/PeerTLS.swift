internal import Foundation
internal import GRPCNIOTransportHTTP2
public import RaftCore
public import Rafty
internal import SwiftASN1
internal import X509

/// Mutual TLS between nodes (etcd's `--peer-cert-file`, `--peer-key-file`,
/// `--peer-trusted-ca-file`): every peer connection, both directions, presents a certificate
/// signed by the trusted CA, and a node's certificate names its id (``PeerIdentity``).
///
/// The files are read when the transport starts (rotate certificates by restarting the node).
/// Clients check the server's chain against the CA but not its host name: what a node accepts
/// (Raft messages, snapshots, forwarded requests) is bound to the id in the *client's*
/// certificate on the receiving side.
public struct PeerTLS: Sendable, Hashable {
    /// PEM file with this node's certificate (and any intermediates).
    public var certificateChainFile: String
    /// PEM file with this node's private key.
    public var privateKeyFile: String
    /// PEM file with the CA certificate(s) peers' certificates must chain to.
    public var trustedCAFile: String

    /// Creates a configuration from three PEM files.
    public init(certificateChainFile: String, privateKeyFile: String, trustedCAFile: String) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.trustedCAFile = trustedCAFile
    }

    /// Reads the files and returns the node id this node's certificate names.
    ///
    /// - Throws: `RaftError/Code/invalidConfiguration` naming the file that cannot be read or
    ///   parsed, or a certificate without exactly one `rafty://node/<id>` URI.
    public func nodeID() throws(RaftError) -> NodeID {
        func fail(_ message: String) -> RaftError { RaftError(.invalidConfiguration, "peer TLS: \(message)") }
        func read(_ path: String, _ what: String) throws(RaftError) -> String {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw fail("cannot read the \(what) file '\(path)'")
            }
            return text
        }
        let chain = try read(self.certificateChainFile, "certificate")
        let key = try read(self.privateKeyFile, "private key")
        let ca = try read(self.trustedCAFile, "trusted CA")
        guard key.contains("PRIVATE KEY-----") else { throw fail("'\(self.privateKeyFile)' holds no PEM private key") }
        guard let caBlock = Self.firstPEMBlock(ca), (try? Certificate(pemEncoded: caBlock)) != nil else {
            throw fail("'\(self.trustedCAFile)' holds no PEM certificate")
        }
        let certificate: Certificate
        do {
            certificate = try Certificate(pemEncoded: Self.firstPEMBlock(chain) ?? chain)
        } catch {
            throw fail("'\(self.certificateChainFile)' holds no readable PEM certificate: \(error)")
        }
        guard let id = PeerIdentity.nodeID(of: certificate) else {
            throw fail("the certificate in '\(self.certificateChainFile)' names no node id (a subject alternative name URI \(PeerIdentity.uriPrefix)<id>)")
        }
        return id
    }

    /// The first `-----BEGIN CERTIFICATE-----` block of a PEM file.
    static func firstPEMBlock(_ text: String) -> String? {
        guard let start = text.range(of: "-----BEGIN CERTIFICATE-----"),
            let end = text.range(of: "-----END CERTIFICATE-----", range: start.upperBound..<text.endIndex)
        else { return nil }
        return String(text[start.lowerBound..<end.upperBound])
    }

    var serverSecurity: HTTP2ServerTransport.Posix.TransportSecurity {
        .mTLS(
            certificateChain: [.file(path: self.certificateChainFile, format: .pem)],
            privateKey: .file(path: self.privateKeyFile, format: .pem)
        ) { config in
            config.trustRoots = .certificates([.file(path: self.trustedCAFile, format: .pem)])
            config.clientCertificateVerification = .noHostnameVerification
        }
    }

    /// The client side: the server's chain must lead to the trusted CA and its certificate must
    /// name the node `identity` expects at that address.
    func clientSecurity(checking identity: ServerIdentity) throws(RaftError) -> HTTP2ClientTransport.Posix.TransportSecurity {
        let trustRoot = try self.trustedCA()
        return .mTLS(
            certificateChain: [.file(path: self.certificateChainFile, format: .pem)],
            privateKey: .file(path: self.privateKeyFile, format: .pem)
        ) { config in
            config.trustRoots = .certificates([.file(path: self.trustedCAFile, format: .pem)])
            config.serverCertificateVerification = .noHostnameVerification
            config.customVerificationCallback = { certificates, promise in
                identity.verify(certificates, trustRoot: trustRoot, promise: promise)
            }
        }
    }

    /// The trusted CA's certificate.
    func trustedCA() throws(RaftError) -> Certificate {
        guard let data = FileManager.default.contents(atPath: self.trustedCAFile), let text = String(data: data, encoding: .utf8),
            let block = Self.firstPEMBlock(text), let certificate = try? Certificate(pemEncoded: block)
        else {
            throw RaftError(.invalidConfiguration, "peer TLS: '\(self.trustedCAFile)' holds no readable PEM certificate")
        }
        return certificate
    }
}
