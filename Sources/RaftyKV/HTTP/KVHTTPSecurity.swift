internal import NIOSSL

/// How the HTTP API is protected: HTTPS, client certificates, and who may use the admin routes.
///
/// - ``certificateFile`` and ``privateKeyFile``: serve HTTPS (etcd's `--cert-file`, `--key-file`).
/// - ``trustedCAFile``: clients must present a certificate that CA signed (etcd's
///   `--trusted-ca-file`); the TLS handshake refuses the others, so every request is authenticated.
/// - ``authToken``: without client certificates, the admin routes (membership changes, leadership
///   transfer, bootstrap) need `Authorization: Bearer <token>`: 401 without it, 403 with another.
/// - ``protectKeyValue``: the key-value routes need the same.
///
/// With none of these the API is open to whoever reaches it (`rafty serve` allows that on
/// loopback only).
public struct KVHTTPSecurity: Sendable, Hashable {
    /// PEM certificate (chain) of the server; with ``privateKeyFile``, the API is HTTPS.
    public var certificateFile: String?
    /// PEM private key of ``certificateFile``.
    public var privateKeyFile: String?
    /// PEM CA certificate(s) client certificates must chain to; nil: no client certificates.
    public var trustedCAFile: String?
    /// The bearer token of the admin routes (and the key-value routes with ``protectKeyValue``).
    public var authToken: String?
    /// Puts the key-value routes behind the same authentication as the admin routes.
    public var protectKeyValue: Bool

    /// Creates a configuration; the default is plaintext and open.
    public init(
        certificateFile: String? = nil, privateKeyFile: String? = nil, trustedCAFile: String? = nil, authToken: String? = nil,
        protectKeyValue: Bool = false
    ) {
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.trustedCAFile = trustedCAFile
        self.authToken = authToken
        self.protectKeyValue = protectKeyValue
    }

    /// Plaintext and open.
    public static let none = KVHTTPSecurity()

    /// Whether the API is served over HTTPS.
    public var isTLS: Bool { self.certificateFile != nil }

    /// Whether admin requests are authenticated (client certificates or a token).
    public var authenticatesAdmin: Bool { self.trustedCAFile != nil || self.authToken != nil }

    /// The server's TLS configuration, read from the files.
    func serverConfiguration() throws -> TLSConfiguration? {
        guard let certificateFile = self.certificateFile else { return nil }
        guard let privateKeyFile = self.privateKeyFile else {
            throw KVConfigurationError("HTTPS needs a private key file with the certificate file")
        }
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw KVConfigurationError("cannot read the HTTPS certificate '\(certificateFile)': \(error)")
        }
        do {
            key = try NIOSSLPrivateKey(file: privateKeyFile, format: .pem)
        } catch {
            throw KVConfigurationError("cannot read the HTTPS private key '\(privateKeyFile)': \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        if let trustedCAFile = self.trustedCAFile {
            configuration.trustRoots = .file(trustedCAFile)
            configuration.certificateVerification = .noHostnameVerification
        }
        return configuration
    }
}

/// A configuration of the HTTP API that cannot work (a file missing or unreadable).
public struct KVConfigurationError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public var description: String
    init(_ description: String) { self.description = description }
}
