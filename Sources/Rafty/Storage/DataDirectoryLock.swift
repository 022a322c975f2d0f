import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An exclusive lock on a data directory, so two nodes (processes, or stores in one process)
/// never write the same files.
///
/// Takes `flock(LOCK_EX | LOCK_NB)` on `<directory>/LOCK`. Each instance opens its own file
/// description, so a second lock fails even within the same process. The kernel releases the
/// lock if the process dies; the `LOCK` file itself is left in place.
package final class DataDirectoryLock: Sendable {
    /// The locked directory.
    package let directory: String
    private let descriptor: Mutex<Int32>

    /// Locks `directory` (creating it if needed).
    ///
    /// - Throws: ``StorageError/Code/locked`` if another process or instance holds it,
    ///   ``StorageError/Code/io`` if a system call fails.
    package init(directory: String) throws(StorageError) {
        self.directory = directory
        try FileSystem.makeDirectory(directory)
        let path = directory + "/LOCK"
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw POSIXFile.error("cannot open lock file", path: path) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            _ = Glibc.close(fd)
            if code == EWOULDBLOCK {
                throw StorageError(
                    .locked, "data directory \(directory) is in use by another process (or another store in this one)",
                    path: path, errno: code)
            }
            throw StorageError(.io, "cannot lock: \(String(cString: strerror(code)))", path: path, errno: code)
        }
        self.descriptor = Mutex(fd)
    }

    deinit { self.unlock() }

    /// Releases the lock; calling it again does nothing.
    package func unlock() {
        self.descriptor.withLock { fd in
            guard fd >= 0 else { return }
            _ = flock(fd, LOCK_UN)
            _ = Glibc.close(fd)
            fd = -1
        }
    }
}
