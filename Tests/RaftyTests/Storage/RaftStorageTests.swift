import RaftCore
import Rafty
import RaftyTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("RaftStorage")
struct RaftStorageTests {
    @Test("Every file and directory a data directory holds is its owner's only (0600 / 0700)")
    func ownerOnlyPermissions() throws {
        let directory = TemporaryDirectory("rafty-storage")
        defer { directory.remove() }
        let path = directory.path + "/data/node-1"
        let storage = try RaftStorage.open(dataDirectory: path)
        try storage.log.append([Entry(term: 1, index: 1, payload: .noop)])
        try storage.stable.save(StableState(nodeID: 1, hardState: HardState(term: 1, vote: 1, commit: 1)))
        let writer = try storage.snapshots.makeWriter(for: SnapshotMetadata(index: 1, term: 1, configuration: ClusterConfiguration(voters: [1])))
        try writer.write([1, 2, 3])
        _ = try writer.commit()
        storage.close()
        var checked = 0
        func check(_ path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return }
            checked += 1
            let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
            #expect(info.st_mode & 0o777 == (isDirectory ? 0o700 : 0o600), "\(path): \(String(info.st_mode & 0o777, radix: 8))")
            guard isDirectory, let handle = opendir(path) else { return }
            defer { closedir(handle) }
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { check(path + "/" + name) }
            }
        }
        check(directory.path + "/data")
        #expect(checked >= 6, "the directory, its node directory, the log, stable state and snapshot files")
    }

    @Test("Opening a data directory lays it out, locks it and reopens with the same contents")
    func layoutAndReopen() throws {
        let directory = TemporaryDirectory("rafty-storage")
        defer { directory.remove() }
        let path = directory.path + "/node-1"
        let storage = try RaftStorage.open(dataDirectory: path)
        try storage.log.append([Entry(term: 1, index: 1, payload: .noop)])
        try storage.stable.save(StableState(nodeID: 1, hardState: HardState(term: 1, vote: 1, commit: 1)))
        let metadata = SnapshotMetadata(index: 1, term: 1, configuration: ClusterConfiguration(voters: [1]))
        let writer = try storage.snapshots.makeWriter(for: metadata)
        try writer.write([1, 2, 3])
        _ = try writer.commit()

        // A second open of the same directory is refused while the first holds it.
        #expect {
            _ = try RaftStorage.open(dataDirectory: path)
        } throws: { ($0 as? StorageError)?.code == .locked }
        storage.close()

        let reopened = try RaftStorage.open(dataDirectory: path)
        defer { reopened.close() }
        #expect(reopened.log.lastIndex == 1)
        #expect(reopened.stable.state.hardState == HardState(term: 1, vote: 1, commit: 1))
        #expect(try reopened.snapshots.openNewest()?.readAll() == [1, 2, 3])
        #expect(Set(try listDirectory(path)).isSuperset(of: ["LOCK", "meta", "wal", "snapshots"]))
    }

    @Test("In-memory storage starts empty")
    func inMemory() throws {
        let storage = try RaftStorage.inMemory()
        #expect(storage.log.lastIndex == 0)
        #expect(storage.stable.state == StableState())
        #expect(try storage.snapshots.list().isEmpty)
    }

    func listDirectory(_ path: String) throws -> [String] {
        var names: [String] = []
        let pipe = popen("ls -A '\(path)'", "r")
        defer { pclose(pipe) }
        var buffer = [CChar](repeating: 0, count: 256)
        while fgets(&buffer, 256, pipe) != nil {
            names.append(String(cString: buffer).trimmingSuffix("\n"))
        }
        return names
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        self.hasSuffix(suffix) ? String(self.dropLast(suffix.count)) : self
    }
}
