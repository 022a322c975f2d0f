import RaftCore

extension NodeLoop {
    /// Takes members' addresses from the active configuration (which carries them), so a node that
    /// joined later can reach every member.
    mutating func learnAddresses() {
        guard let core = self.core else { return }
        let id = self.node.configuration.id
        for (member, address) in core.configuration.addresses where member != id && self.addresses[member] != address {
            self.addresses[member] = address
        }
    }
}
