#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp, removed by ``remove()``.
struct TemporaryDirectory {
    let path: String

    init(_ prefix: String = "rafty-test") {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed")
        self.path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    func remove() {
        _ = system("rm -rf '\(self.path)'")
    }
}
