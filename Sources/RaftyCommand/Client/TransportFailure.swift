internal import AsyncHTTPClient
internal import NIOCore
internal import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A request that got no HTTP answer, classified by whether the server could have received it.
struct TransportFailure: Error, Equatable, Sendable {
    /// What went wrong, as far as the client can tell.
    enum Kind: String, Sendable, Codable {
        /// No connection was made (refused, DNS, connect timeout): the request was never sent,
        /// so a write was certainly not applied and another endpoint may be tried.
        case connectionFailed = "connection failure"
        /// The request was (or may have been) sent but no answer came in time.
        case timeout
        /// The connection broke after the request was (or may have been) sent.
        case connectionClosed = "connection closed"
        /// Anything else.
        case other
    }

    /// The classification.
    var kind: Kind
    /// A short human-readable reason.
    var reason: String

    /// Whether the request certainly never reached the server.
    var requestNotSent: Bool { self.kind == .connectionFailed }

    /// Classifies an error thrown by `HTTPClient.execute` or while reading the response body.
    init(_ error: any Error) {
        switch error {
        case let error as NIOConnectionError:
            self.init(kind: .connectionFailed, reason: Self.describe(error))
        case let error as HTTPClientError:
            switch error {
            case .connectTimeout:
                self.init(kind: .connectionFailed, reason: "connect timed out")
            case .getConnectionFromPoolTimeout:
                // The request was still queued in the pool, waiting for a connection.
                self.init(kind: .connectionFailed, reason: "timed out waiting for a connection")
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                self.init(kind: .timeout, reason: "timed out waiting for the answer")
            case .remoteConnectionClosed:
                self.init(kind: .connectionClosed, reason: "connection closed by the server")
            default:
                self.init(kind: .other, reason: String(describing: error))
            }
        case ChannelError.connectTimeout:
            self.init(kind: .connectionFailed, reason: "connect timed out")
        case let error as IOError where error.errnoCode == ECONNREFUSED:
            self.init(kind: .connectionFailed, reason: "connection refused")
        case let error as IOError where error.errnoCode == ECONNRESET || error.errnoCode == EPIPE:
            self.init(kind: .connectionClosed, reason: "connection reset")
        default:
            self.init(kind: .other, reason: String(describing: error))
        }
    }

    /// Creates a failure from its parts.
    init(kind: Kind, reason: String) {
        self.kind = kind
        self.reason = reason
    }

    private static func describe(_ error: NIOConnectionError) -> String {
        if error.connectionErrors.isEmpty, error.dnsAError != nil || error.dnsAAAAError != nil {
            return "cannot resolve host \(error.host)"
        }
        if let io = error.connectionErrors.lazy.compactMap({ $0.error as? IOError }).first {
            return io.errnoCode == ECONNREFUSED ? "connection refused" : "connection failed (\(strerrorText(io.errnoCode)))"
        }
        return "connection failed"
    }

    private static func strerrorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}
