import Foundation
import GRPCNIOTransportHTTP2
import RaftCore
import Rafty
import RaftyTestSupport
import Testing

@testable import RaftyGRPC

@Suite("Listening addresses")
struct BindAddressTests {
    @Test("A host name is bound at the address it resolves to, never on every interface")
    func hostNameBindsResolvedAddress() throws {
        let endpoint = try PeerAddress(parsing: "localhost.localdomain.invalid:7000")
        #expect(throws: RaftError.self) { _ = try endpoint.bindAddress }  // does not resolve: an error, not 0.0.0.0
        let name = ProcessInfo.processInfo.hostName
        let resolved = try #require(PeerAddress.resolve(name), "the machine's own name \(name) resolves")
        let address = try PeerAddress(parsing: "\(name):7000").bindAddress
        #expect((address.ipv4?.host ?? address.ipv6?.host) == resolved.address)
        #expect(address.ipv4?.host != "0.0.0.0")
        #expect(try PeerAddress(parsing: "127.0.0.1:7000").bindAddress.ipv4?.host == "127.0.0.1")
        #expect(try PeerAddress(parsing: "[::1]:7000").bindAddress.ipv6?.host == "::1")
    }
}
