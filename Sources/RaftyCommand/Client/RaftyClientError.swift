/// A failed operation of an HTTP client subcommand; `description` is the one-line error message.
enum RaftyClientError: Error, Equatable, CustomStringConvertible {
    /// One endpoint that could not serve a request, and why.
    struct Attempt: Equatable, Sendable {
        /// The endpoint tried.
        var endpoint: String
        /// Why it did not serve: a connection failure or the server's 503 message.
        var reason: String
    }

    /// The server answered with an error status (its JSON error body parsed, when there is one).
    case server(endpoint: String, status: Int, code: String?, message: String?, leader: String?)
    /// A write may or may not have been applied (504, or the connection failed after sending it).
    case outcomeUnknown(endpoint: String, reason: String)
    /// No endpoint could serve the request; for a write, none applied it.
    case unavailable([Attempt])
    /// `GET` or `DELETE` of a key that does not exist.
    case keyNotFound(String)
    /// The server's answer could not be understood.
    case invalidResponse(endpoint: String, reason: String)
    /// A local input (such as `--value-file`) could not be read.
    case input(String)

    var description: String {
        switch self {
        case .server(let endpoint, let status, let code, let message, let leader):
            var text = "\(endpoint): \(status)"
            if let code, !code.isEmpty { text += " \(code)" }
            if let message, !message.isEmpty { text += ": \(message)" }
            if let leader, !leader.isEmpty { text += " (leader: \(leader))" }
            return text
        case .outcomeUnknown(let endpoint, let reason):
            return "\(endpoint): outcome unknown, the write may or may not have been applied: \(reason)"
        case .unavailable(let attempts):
            let reasons = attempts.map { "\($0.endpoint): \($0.reason)" }.joined(separator: "; ")
            return "no endpoint could serve the request (\(reasons))"
        case .keyNotFound(let key):
            return "key not found: \(key)"
        case .invalidResponse(let endpoint, let reason):
            return "\(endpoint): invalid response: \(reason)"
        case .input(let message):
            return message
        }
    }
}
