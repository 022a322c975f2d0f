import RaftyTestSupport
import Testing

@testable import Rafty

@Suite("DataDirectoryLock")
struct DataDirectoryLockTests {
    static func expectLocked(_ body: () throws -> Void) {
        #expect {
            try body()
        } throws: { error in
            guard let error = error as? StorageError else { return false }
            return error.code == .locked && error.message.contains("in use by another process")
        }
    }

    @Test("A second lock on the same directory fails until the first is released")
    func exclusive() throws {
        let directory = TemporaryDirectory("rafty-lock")
        defer { directory.remove() }
        let path = directory.path + "/data"
        let first = try DataDirectoryLock(directory: path)
        #expect(FileSystem.exists(path + "/LOCK"))
        Self.expectLocked { _ = try DataDirectoryLock(directory: path) }
        first.unlock()
        first.unlock()
        let second = try DataDirectoryLock(directory: path)
        Self.expectLocked { _ = try DataDirectoryLock(directory: path) }
        second.unlock()
    }

    @Test("Deinitializing a lock releases it; other directories are independent")
    func deinitReleases() throws {
        let directory = TemporaryDirectory("rafty-lock")
        defer { directory.remove() }
        do {
            let held = try DataDirectoryLock(directory: directory.path + "/a")
            let other = try DataDirectoryLock(directory: directory.path + "/b")
            withExtendedLifetime((held, other)) {}
        }
        let again = try DataDirectoryLock(directory: directory.path + "/a")
        again.unlock()
    }
}
