public import RaftCore
public import X509

/// A node's identity in its peer certificate: a subject alternative name URI
/// `rafty://node/<id>`. With ``PeerTLS`` on, a message whose `from` differs from the id of the
/// certificate it arrived under is dropped.
public enum PeerIdentity {
    /// The URI prefix of a node identity.
    public static let uriPrefix = "rafty://node/"

    /// The URI naming node `id`.
    public static func uri(of id: NodeID) -> String { "\(Self.uriPrefix)\(id)" }

    /// The node id a certificate names, if it names exactly one (nil: none, several, or malformed).
    public static func nodeID(of certificate: Certificate) -> NodeID? {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return nil }
        var found: NodeID?
        for name in names {
            guard case .uniformResourceIdentifier(let uri) = name, uri.hasPrefix(Self.uriPrefix) else { continue }
            guard found == nil, let id = NodeID(uri.dropFirst(Self.uriPrefix.count)), id != 0 else { return nil }
            found = id
        }
        return found
    }
}
