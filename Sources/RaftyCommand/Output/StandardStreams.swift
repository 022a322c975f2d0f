#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Unbuffered writes to stdout and stderr (raw values must reach stdout byte for byte).
enum StandardStreams {
    /// One of the two output streams.
    enum Stream {
        /// stdout.
        case output
        /// stderr.
        case error

        /// The file descriptor.
        var descriptor: Int32 { self == .output ? STDOUT_FILENO : STDERR_FILENO }
    }

    /// Writes `bytes` as they are.
    static func writeBytes(_ bytes: some Collection<UInt8>, to stream: Stream) {
        var remaining = Array(bytes)[...]
        while !remaining.isEmpty {
            let written = remaining.withUnsafeBytes { write(stream.descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            remaining = remaining.dropFirst(written)
        }
    }

    /// Writes `text` and a newline unless it already ends with one.
    static func writeLine(_ text: String, to stream: Stream) {
        self.writeBytes(Array((text.hasSuffix("\n") ? text : text + "\n").utf8), to: stream)
    }
}
