internal import Foundation
internal import NIOCore
internal import NIOSSL
internal import RaftCore
internal import SwiftASN1
private import Synchronization
internal import X509

/// What a client connection to one peer address expects of the server's certificate, and what
/// it found: with peer TLS, the server must prove to be the node the messages are for, so that a
/// member of the cluster cannot answer in another member's place.
final class ServerIdentity: Sendable {
    private struct State {
        /// The node the connection's messages are addressed to (nil until the first one).
        var expected: NodeID?
        /// The node the server's certificate names, once a handshake verified it.
        var verified: NodeID?
    }

    private let state = Mutex(State())

    init(expected: NodeID? = nil) {
        self.state.withLock { $0.expected = expected }
    }

    /// The node expected at this address (set by the first message sent there).
    var expected: NodeID? { self.state.withLock { $0.expected } }

    /// Records that messages for `id` go to this address; false if it expects another node, or
    /// if a handshake already showed another node there.
    func expect(_ id: NodeID) -> Bool {
        self.state.withLock { state in
            if state.expected == nil {
                if let verified = state.verified, verified != id { return false }
                state.expected = id
            }
            return state.expected == id
        }
    }

    /// Verifies a server's certificate chain against `trustRoot` (RFC 5280: signatures, validity
    /// period, CA constraints) and its node id against the expected one; calls back with the
    /// verdict. Replaces BoringSSL's own verification (that is how the callback works), so the
    /// chain check is done here in full.
    func verify(
        _ certificates: [NIOSSLCertificate], trustRoot: Certificate, promise: EventLoopPromise<NIOSSLVerificationResultWithMetadata>
    ) {
        let parsed = certificates.compactMap { try? Certificate(derEncoded: $0.toDERBytes()) }
        guard parsed.count == certificates.count, let leaf = parsed.first else {
            promise.succeed(.failed)
            return
        }
        Task {
            var verifier = Verifier(rootCertificates: CertificateStore([trustRoot])) { RFC5280Policy(validationTime: Date()) }
            let result = await verifier.validate(leafCertificate: leaf, intermediates: CertificateStore(parsed.dropFirst()))
            guard case .validCertificate = result, let id = PeerIdentity.nodeID(of: leaf) else {
                promise.succeed(.failed)
                return
            }
            let accepted = self.state.withLock { state in
                guard state.expected == nil || state.expected == id else { return false }
                state.verified = id
                return true
            }
            promise.succeed(accepted ? .certificateVerified(VerificationMetadata(nil)) : .failed)
        }
    }
}
