#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A node's network address, checked: an IPv4 literal, an IPv6 literal or a host name, and a port.
///
/// The one parser every address goes through (configuration, membership changes, the gRPC
/// transport's listeners and connections, the CLI's `--address` and `--http`), so that all accept
/// and refuse the same text:
///
/// - `10.0.0.1`, `10.0.0.1:7000`
/// - `[::1]`, `[::1]:7000`, and a bare IPv6 literal without a port (`::1`, `fe80::2`)
/// - `node-1.example.com`, `node-1.example.com:7000` (RFC 1123 host names)
///
/// A missing port is the default one (50051 for peers); ports are 1...65535 (a port of 0 would
/// listen on a random port that no peer could be told).
public struct PeerAddress: Hashable, Sendable, CustomStringConvertible {
    /// The host part of an address.
    public enum Host: Hashable, Sendable {
        /// A dotted-quad IPv4 literal.
        case ipv4(String)
        /// An IPv6 literal in its canonical text form (RFC 5952), without brackets.
        case ipv6(String)
        /// A host name, resolved when connecting or listening.
        case name(String)
    }

    /// The gRPC port of a peer address without one.
    public static let defaultPort = 50051

    /// The host.
    public var host: Host
    /// The port, 1...65535.
    public var port: Int

    /// An address from its parts.
    ///
    /// - Throws: ``RaftError/Code/invalidConfiguration`` for a port outside 1...65535 or a host
    ///   that is not a valid literal or name.
    public init(host: Host, port: Int) throws(RaftError) {
        guard (1...65_535).contains(port) else {
            throw RaftError(.invalidConfiguration, "port \(port) must be in 1...65535")
        }
        switch host {
        case .ipv4(let text):
            guard Self.isIPv4(text) else { throw RaftError(.invalidConfiguration, "'\(text)' is not an IPv4 address") }
            self.host = host
        case .ipv6(let text):
            guard let canonical = Self.canonicalIPv6(text) else {
                throw RaftError(.invalidConfiguration, "'\(text)' is not an IPv6 address")
            }
            self.host = .ipv6(canonical)
        case .name(let text):
            guard Self.isHostName(text) else { throw RaftError(.invalidConfiguration, "'\(text)' is not a valid host name") }
            self.host = .name(text.lowercased())
        }
        self.port = port
    }

    /// Parses `host`, `host:port`, `[ipv6]`, `[ipv6]:port` or a bare IPv6 literal.
    ///
    /// - Parameters:
    ///   - text: the address as a user wrote it.
    ///   - defaultPort: the port of an address written without one; nil when a port is required.
    /// - Throws: ``RaftError/Code/invalidConfiguration`` saying what is wrong with `text`.
    public init(parsing text: String, defaultPort: Int? = PeerAddress.defaultPort) throws(RaftError) {
        func invalid(_ why: String) -> RaftError { RaftError(.invalidConfiguration, "'\(text)' is not a valid address: \(why)") }
        let hostText: Substring
        let portText: Substring?
        var isIPv6 = true
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw invalid("no ']' after the IPv6 address") }
            hostText = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if rest.isEmpty {
                portText = nil
            } else if rest.hasPrefix(":") {
                portText = rest.dropFirst()
            } else {
                throw invalid("'\(rest)' after the IPv6 address")
            }
            guard Self.canonicalIPv6(String(hostText)) != nil else { throw invalid("'\(hostText)' is not an IPv6 address") }
        } else if text.filter({ $0 == ":" }).count > 1 {
            // A bare IPv6 literal: without brackets a port cannot be told apart from the address.
            guard Self.canonicalIPv6(text) != nil else { throw invalid("an IPv6 address with a port is written [address]:port") }
            hostText = text[...]
            portText = nil
        } else if let colon = text.firstIndex(of: ":") {
            hostText = text[..<colon]
            portText = text[text.index(after: colon)...]
            isIPv6 = false
        } else {
            hostText = text[...]
            portText = nil
            isIPv6 = false
        }
        let port: Int
        if let portText {
            guard let value = Int(portText), (1...65_535).contains(value) else { throw invalid("the port must be in 1...65535") }
            port = value
        } else {
            guard let defaultPort else { throw invalid("no port (host:port)") }
            port = defaultPort
        }
        guard !hostText.isEmpty else { throw invalid("no host") }
        let host = String(hostText)
        if isIPv6 {
            self.host = .ipv6(Self.canonicalIPv6(host)!)
        } else if Self.isIPv4(host) {
            self.host = .ipv4(host)
        } else if host.allSatisfy({ $0.isNumber || $0 == "." }) {
            throw invalid("'\(host)' is not an IPv4 address")
        } else if Self.isHostName(host) {
            self.host = .name(host.lowercased())
        } else {
            throw invalid("'\(host)' is neither an IP address nor a host name")
        }
        self.port = port
    }

    /// `host:port`, with brackets around an IPv6 literal: the form nodes exchange and compare.
    public var description: String {
        switch self.host {
        case .ipv4(let text), .name(let text): "\(text):\(self.port)"
        case .ipv6(let text): "[\(text)]:\(self.port)"
        }
    }

    /// The host as written in a URL or a socket call (an IPv6 literal without brackets).
    public var hostText: String {
        switch self.host {
        case .ipv4(let text), .ipv6(let text), .name(let text): text
        }
    }

    /// Whether the host is this machine only: 127.0.0.0/8, ::1 or `localhost`.
    public var isLoopback: Bool {
        switch self.host {
        case .ipv4(let text): text.hasPrefix("127.")
        case .ipv6(let text): text == "::1"
        case .name(let text): text == "localhost"
        }
    }

    static func isIPv4(_ text: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, text, &address) == 1
    }

    static func canonicalIPv6(_ text: String) -> String? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// RFC 1123: dot-separated labels of letters, digits and inner hyphens, 253 characters at most.
    static func isHostName(_ text: String) -> Bool {
        let name = text.hasSuffix(".") ? text.dropLast() : text[...]
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                && label.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }
        }
    }
}
