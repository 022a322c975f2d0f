internal import Hummingbird

/// Authenticates the admin routes (and, with ``KVHTTPSecurity/protectKeyValue``, the key-value
/// routes) with a bearer token, unless the TLS handshake already required a client certificate.
struct KVAuthMiddleware: RouterMiddleware {
    typealias Context = KVRequestContext

    let security: KVHTTPSecurity

    func handle(
        _ request: Request, context: KVRequestContext, next: (Request, KVRequestContext) async throws -> Response
    ) async throws -> Response {
        // A client certificate was required at the handshake: every request is authenticated.
        guard self.security.trustedCAFile == nil, let token = self.security.authToken, self.needsAuthentication(request) else {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization] else {
            var response = KVAPIError(.unauthorized, "unauthenticated", "this route needs Authorization: Bearer <token>").response()
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        guard Self.constantTimeEqual(Array(header.utf8), Array("Bearer \(token)".utf8)) else {
            return KVAPIError(.forbidden, "forbidden", "the token is not valid for this node").response()
        }
        return try await next(request, context)
    }

    /// Membership changes, leadership transfer, bootstrap and the snapshot (a backup holds every
    /// key); key-value routes if protected.
    func needsAuthentication(_ request: Request) -> Bool {
        let path = request.uri.path
        if path.hasPrefix("/v1/kv") { return self.security.protectKeyValue }
        if path == "/v1/snapshot" { return true }
        if request.method == .get || request.method == .head { return false }
        return path.hasPrefix("/v1/members") || path == "/v1/leadership/transfer" || path == "/v1/bootstrap"
    }

    /// Compares without stopping at the first difference (no timing hint about the token).
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
