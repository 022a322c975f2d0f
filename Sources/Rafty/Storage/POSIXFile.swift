#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A thin wrapper over a POSIX file descriptor with the few operations durable storage needs:
/// positioned reads and writes that handle short transfers and EINTR, fdatasync/fsync, truncate.
///
/// Not thread-safe; each store serializes access to its files.
final class POSIXFile {
    let path: String
    private(set) var descriptor: Int32

    /// Opens `path` with `flags` (`O_CREAT` creates it with mode 0600).
    init(path: String, flags: Int32) throws(StorageError) {
        self.path = path
        let fd = open(path, flags | O_CLOEXEC, 0o600)  // the data is the application's: owner only
        guard fd >= 0 else { throw Self.error("cannot open", path: path) }
        self.descriptor = fd
    }

    deinit { if self.descriptor >= 0 { _ = Glibc.close(self.descriptor) } }

    func close() {
        if self.descriptor >= 0 { _ = Glibc.close(self.descriptor) }
        self.descriptor = -1
    }

    var size: Int {
        get throws(StorageError) {
            var info = stat()
            guard fstat(self.descriptor, &info) == 0 else { throw Self.error("cannot stat", path: self.path) }
            return Int(info.st_size)
        }
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: [UInt8], at offset: Int) throws(StorageError) {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                pwrite(self.descriptor, buffer.baseAddress! + written, buffer.count - written, off_t(offset + written))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw Self.error("cannot write", path: self.path)
            }
            written += result
        }
    }

    /// Reads up to `count` bytes at `offset` (fewer only at the end of the file).
    func read(at offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var total = 0
        while total < count {
            let result = bytes.withUnsafeMutableBytes { buffer in
                pread(self.descriptor, buffer.baseAddress! + total, count - total, off_t(offset + total))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw Self.error("cannot read", path: self.path)
            }
            if result == 0 { break }
            total += result
        }
        if total < count { bytes.removeLast(count - total) }
        return bytes
    }

    /// Reads the whole file.
    func readAll() throws(StorageError) -> [UInt8] { try self.read(at: 0, count: try self.size) }

    /// Flushes data (and the metadata needed to read it back) to stable storage.
    func dataSync() throws(StorageError) {
        while fdatasync(self.descriptor) != 0 {
            if errno != EINTR { throw Self.error("fdatasync failed", path: self.path) }
        }
    }

    /// Flushes data and all metadata to stable storage.
    func sync() throws(StorageError) {
        while fsync(self.descriptor) != 0 {
            if errno != EINTR { throw Self.error("fsync failed", path: self.path) }
        }
    }

    func truncate(to size: Int) throws(StorageError) {
        guard ftruncate(self.descriptor, off_t(size)) == 0 else { throw Self.error("cannot truncate", path: self.path) }
    }

    static func error(_ message: String, path: String) -> StorageError {
        let code = errno
        return StorageError(.io, "\(message): \(String(cString: strerror(code)))", path: path, errno: code)
    }
}

/// Directory and path operations.
enum FileSystem {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and its missing parents.
    static func makeDirectory(_ path: String) throws(StorageError) {
        if Self.isDirectory(path) { return }
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o700) != 0 && errno != EEXIST {
                throw POSIXFile.error("cannot create directory", path: current)
            }
        }
    }

    /// Names in a directory, sorted, without "." and "..".
    static func list(_ path: String) throws(StorageError) -> [String] {
        guard let directory = opendir(path) else { throw POSIXFile.error("cannot list directory", path: path) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Makes a directory's entries (creations, renames, deletions) durable.
    static func syncDirectory(_ path: String) throws(StorageError) {
        let file = try POSIXFile(path: path, flags: O_RDONLY | O_DIRECTORY)
        defer { file.close() }
        try file.sync()
    }

    /// Atomically replaces `destination` with `source`.
    static func rename(_ source: String, to destination: String) throws(StorageError) {
        guard Glibc.rename(source, destination) == 0 else { throw POSIXFile.error("cannot rename to \(destination)", path: source) }
    }

    static func removeFile(_ path: String) throws(StorageError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw POSIXFile.error("cannot remove", path: path) }
    }

    /// Removes a directory and everything in it.
    static func removeTree(_ path: String) throws(StorageError) {
        guard Self.exists(path) else { return }
        if Self.isDirectory(path) {
            for name in try Self.list(path) { try Self.removeTree(path + "/" + name) }
            guard rmdir(path) == 0 || errno == ENOENT else { throw POSIXFile.error("cannot remove directory", path: path) }
        } else {
            try Self.removeFile(path)
        }
    }
}
