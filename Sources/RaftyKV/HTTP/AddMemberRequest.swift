/// `{"id": N, "address": "host:port", "voter": Bool}`: the body of `POST /v1/members`.
///
/// `voter` defaults to true: the node joins as a read-only member and is promoted once it caught up.
struct AddMemberRequest: Decodable {
    var id: UInt64
    var address: String
    var voter: Bool?

    /// Checks what the server can check by itself (the cluster decides the rest): a positive id
    /// and an address of the form `host` or `host:port` with a port in 1...65535.
    ///
    /// - Throws: ``KVAPIError`` 400 `invalid_member_change`.
    func validated() throws -> Self {
        guard self.id != 0 else {
            throw KVAPIError.invalidMemberChange("the member id must be a positive integer")
        }
        let parts = self.address.split(separator: ":", omittingEmptySubsequences: false)
        let wellFormed =
            (1...2).contains(parts.count) && !parts[0].isEmpty
            && !self.address.contains(where: { $0.isWhitespace || $0 == "/" })
            && (parts.count == 1 || Int(parts[1]).map { (1...65_535).contains($0) } == true)
        guard wellFormed else {
            throw KVAPIError.invalidMemberChange("the address '\(self.address)' is not 'host' or 'host:port' (port 1...65535)")
        }
        return self
    }
}
