internal import Hummingbird

/// The request context of the KV HTTP API.
struct KVRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// Limits JSON request bodies (member changes, leadership transfer), which are tiny. Values
    /// are not decoded: their handlers collect the body up to ``KVLimits/maxValueBytes``.
    var maxUploadSize: Int { 64 << 10 }
}
