internal import Hummingbird
internal import Logging

/// The routes of DESIGN §5.
enum KVRouter {
    static func make(_ handlers: KVHandlers, security: KVHTTPSecurity = .none) -> Router<KVRequestContext> {
        let router = Router(context: KVRequestContext.self)
        router.middlewares.add(KVErrorMiddleware())
        // Without a token (or with client certificates checked at the handshake) there is nothing
        // to check: no middleware layer on every request.
        if security.trustedCAFile == nil, security.authToken != nil {
            router.middlewares.add(KVAuthMiddleware(security: security))
        }

        router.put("/v1/kv/:key", use: handlers.put)
        router.get("/v1/kv/:key", use: handlers.get)
        router.delete("/v1/kv/:key", use: handlers.delete)
        // `/v1/kv/` with no key segment: an empty key.
        router.put("/v1/kv", use: handlers.emptyKey)
        router.get("/v1/kv", use: handlers.emptyKey)
        router.delete("/v1/kv", use: handlers.emptyKey)

        router.get("/v1/status", use: handlers.status)
        router.get("/v1/members", use: handlers.members)
        router.post("/v1/members", use: handlers.addMember)
        router.delete("/v1/members/:id", use: handlers.removeMember)
        router.post("/v1/members/:id/promote", use: handlers.promoteMember)
        router.post("/v1/members/:id/demote", use: handlers.demoteMember)
        router.post("/v1/leadership/transfer", use: handlers.transferLeadership)
        router.post("/v1/bootstrap", use: handlers.bootstrap)
        router.get("/v1/snapshot", use: handlers.snapshot)

        router.get("/metrics", use: handlers.metrics)
        router.get("/health", use: handlers.health)
        router.get("/ready", use: handlers.ready)
        return router
    }
}

/// Renders every error — ours, Hummingbird's (404 route, 413 body) and unexpected ones — as
/// the standard error JSON.
struct KVErrorMiddleware: RouterMiddleware {
    typealias Context = KVRequestContext

    func handle(
        _ request: Request, context: KVRequestContext, next: (Request, KVRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as KVAPIError {
            return error.response()
        } catch let error as HTTPError {
            let code = error.status == .notFound ? "not_found" : "http_\(error.status.code)"
            return KVAPIError(error.status, code, error.body ?? error.status.reasonPhrase).response()
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            return KVAPIError(.contentTooLarge, "too_large", "the request body is too large").response()
        } catch {
            context.logger.debug("unexpected error", metadata: ["error": "\(error)"])
            return KVAPIError(.internalServerError, "internal", "\(error)").response()
        }
    }
}
