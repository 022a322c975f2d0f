import Crypto
internal import Foundation
public import RaftCore
internal import SwiftASN1
public import X509

/// A development certificate authority and the node certificates it signs (`rafty certs`), so a
/// TLS cluster needs no openssl. ECDSA P-256 keys; certificates valid for a year from an hour ago.
/// For production, use your own PKI: any CA works, as long as each node's certificate carries its
/// ``PeerIdentity`` URI.
public struct DevelopmentCertificates: Sendable {
    /// The CA's certificate and private key.
    public let certificate: Certificate
    let key: P256.Signing.PrivateKey

    /// Creates a new CA named `name`.
    public init(name: String = "Rafty development CA") throws {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(name) }
        let now = Date()
        self.certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 365 * 86_400, issuer: subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
        self.key = key
    }

    /// Loads a CA from its PEM certificate and PKCS#8 PEM private key.
    public init(certificatePEM: String, keyPEM: String) throws {
        self.certificate = try Certificate(pemEncoded: certificatePEM)
        self.key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
    }

    /// The CA certificate, PEM.
    public var certificatePEM: String { get throws { try self.certificate.serializeAsPEM().pemString } }
    /// The CA private key, PKCS#8 PEM.
    public var keyPEM: String { self.key.pemRepresentation }

    /// A certificate and key for node `id`, for both ends of a peer connection (server and client
    /// authentication): its ``PeerIdentity`` URI plus `hosts` (IP addresses and DNS names it is
    /// reached at) as subject alternative names. Returns (certificate PEM, private key PEM).
    public func issue(nodeID id: NodeID, hosts: [String] = ["127.0.0.1", "localhost"]) throws -> (certificate: String, key: String) {
        try self.issue(commonName: "rafty node \(id)", names: [.uniformResourceIdentifier(PeerIdentity.uri(of: id))], hosts: hosts)
    }

    /// A certificate and key for a client (HTTP API client authentication) named `name`.
    public func issue(clientName name: String) throws -> (certificate: String, key: String) {
        try self.issue(commonName: name, names: [], hosts: [])
    }

    private func issue(commonName: String, names: [GeneralName], hosts: [String]) throws -> (certificate: String, key: String) {
        let key = P256.Signing.PrivateKey()
        var alternativeNames = names
        for host in hosts {
            if let bytes = Self.ipv4Bytes(host) {
                alternativeNames.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
            } else {
                alternativeNames.append(.dnsName(host))
            }
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 365 * 86_400, issuer: self.certificate.subject,
            subject: try DistinguishedName { CommonName(commonName) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                if !alternativeNames.isEmpty { SubjectAlternativeNames(alternativeNames) }
            },
            issuerPrivateKey: .init(self.key))
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }

    static func ipv4Bytes(_ host: String) -> [UInt8]? {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { UInt8($0) }
        return bytes.count == 4 ? bytes : nil
    }
}
