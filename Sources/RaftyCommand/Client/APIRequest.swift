/// One request of the HTTP API, independent of the endpoint it goes to.
struct APIRequest: Sendable, Equatable {
    /// The HTTP method.
    enum Method: String, Sendable {
        /// GET.
        case get = "GET"
        /// PUT.
        case put = "PUT"
        /// POST.
        case post = "POST"
        /// DELETE.
        case delete = "DELETE"
    }

    /// The method.
    var method: Method
    /// Path and query, already percent-encoded, starting with `/`.
    var target: String
    /// The body, if any.
    var body: [UInt8]?
    /// The body's content type.
    var contentType: String?

    /// Whether the request changes state. A write is retried on another endpoint only when it
    /// certainly was not applied (connection never made, or 503); reads are retried on any failure.
    var isWrite: Bool { self.method != .get }

    /// Creates a request.
    init(_ method: Method, _ target: String, body: [UInt8]? = nil, contentType: String? = nil) {
        self.method = method
        self.target = target
        self.body = body
        self.contentType = contentType
    }
}

/// An HTTP answer, whatever its status.
struct APIResponse: Sendable, Equatable {
    /// The endpoint that answered.
    var endpoint: String
    /// The HTTP status code.
    var status: Int
    /// The body.
    var body: [UInt8]
    /// Seconds to wait before retrying, from a `Retry-After` header in seconds.
    var retryAfter: Int? = nil

    /// Whether the status is 2xx.
    var isSuccess: Bool { (200..<300).contains(self.status) }

    /// The error this answer stands for (its JSON error body parsed when present).
    var serverError: RaftyClientError {
        let detail = ServerErrorBody.parse(self.body)
        var message = detail?.message
        if detail == nil, !self.body.isEmpty, self.body.count <= 200 {
            message = String(decoding: self.body, as: UTF8.self).trimmingWhitespace()
        }
        return .server(
            endpoint: self.endpoint,
            status: self.status,
            code: detail?.code,
            message: message,
            leader: detail?.leader
        )
    }

    /// Throws ``serverError`` unless the status is 2xx.
    func requireSuccess() throws(RaftyClientError) {
        guard self.isSuccess else { throw self.serverError }
    }
}
