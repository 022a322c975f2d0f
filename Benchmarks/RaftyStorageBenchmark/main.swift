import RaftCore
import Rafty

// Measures the WAL's append throughput next to the raw fdatasync rate of the same disk.
//
//   swift run -c release rafty-storage-bench [--dir DIR] [--seconds S] [--entry-size BYTES]
//
// DIR must be on the disk you care about (not tmpfs); it is created and removed.
#if canImport(Glibc)
    import Glibc
#endif

struct Options {
    var directory = "/tmp/rafty-storage-bench-\(getpid())"
    var seconds = 2.0
    var entrySize = 128

    init(arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--dir": self.directory = iterator.next() ?? self.directory
            case "--seconds": self.seconds = iterator.next().flatMap(Double.init) ?? self.seconds
            case "--entry-size": self.entrySize = iterator.next().flatMap(Int.init) ?? self.entrySize
            default:
                print("usage: rafty-storage-bench [--dir DIR] [--seconds S] [--entry-size BYTES]")
                exit(2)
            }
        }
    }
}

func elapsedSeconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// Appends `entrySize` bytes and fdatasyncs, as often as possible for `seconds`.
func rawFsyncRate(directory: String, entrySize: Int, seconds: Double) -> Double {
    let path = directory + "/raw"
    let fd = open(path, O_CREAT | O_WRONLY | O_APPEND, 0o644)
    precondition(fd >= 0, "cannot open \(path)")
    defer {
        close(fd)
        unlink(path)
    }
    let record = [UInt8](repeating: 0xAB, count: entrySize)
    var count = 0
    let start = ContinuousClock.now
    while elapsedSeconds(since: start) < seconds {
        let written = record.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        precondition(written == entrySize && fdatasync(fd) == 0, "raw write failed")
        count += 1
    }
    return Double(count) / elapsedSeconds(since: start)
}

/// Appends batches of `batchSize` entries to a fresh WAL for `seconds`.
func walRate(directory: String, batchSize: Int, entrySize: Int, seconds: Double) throws -> (entries: Double, batches: Double) {
    let path = directory + "/wal-\(batchSize)"
    let store = try FileLogStore(directory: path)
    defer {
        store.close()
        _ = system("rm -rf '\(path)'")
    }
    let payload = [UInt8](repeating: 0xCD, count: entrySize)
    var next: UInt64 = 1
    var batches = 0
    let start = ContinuousClock.now
    while elapsedSeconds(since: start) < seconds {
        let batch = (0..<UInt64(batchSize)).map { Entry(term: 1, index: next + $0, payload: .command(payload)) }
        try store.append(batch)
        next += UInt64(batchSize)
        batches += 1
    }
    let elapsed = elapsedSeconds(since: start)
    return (Double(batches * batchSize) / elapsed, Double(batches) / elapsed)
}

func format(_ value: Double) -> String {
    let rounded = Int(value.rounded())
    var digits = String(rounded)
    var index = digits.count - 3
    while index > 0 {
        digits.insert(",", at: digits.index(digits.startIndex, offsetBy: index))
        index -= 3
    }
    return digits
}

func pad(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }

let options = Options(arguments: CommandLine.arguments)
_ = system("mkdir -p '\(options.directory)'")
defer { _ = system("rm -rf '\(options.directory)'") }

print("rafty-storage-bench: \(options.entrySize)-byte entries, \(options.seconds) s per row, in \(options.directory)")
let raw = rawFsyncRate(directory: options.directory, entrySize: options.entrySize, seconds: options.seconds)
print("raw write + fdatasync on this disk: \(format(raw)) /s")
print("")
print("| batch | entries/s | fsyncs/s | fsyncs vs raw | entries vs batch 1 |")
print("|------:|----------:|---------:|--------------:|-------------------:|")
var batchOne = 0.0
do {
    for batchSize in [1, 16, 64, 256] {
        let rate = try walRate(directory: options.directory, batchSize: batchSize, entrySize: options.entrySize, seconds: options.seconds)
        if batchSize == 1 { batchOne = rate.entries }
        let versusRaw = String(Int((rate.batches / raw * 100).rounded())) + " %"
        let versusOne = oneDecimal(rate.entries / batchOne)
        print(
            "| \(pad(String(batchSize), 5)) | \(pad(format(rate.entries), 9)) | \(pad(format(rate.batches), 8)) | \(pad(versusRaw, 13)) | \(pad(versusOne + "×", 18)) |"
        )
    }
} catch {
    print("error: \(error)")
    exit(1)
}

func oneDecimal(_ ratio: Double) -> String {
    let tenths = Int((ratio * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}
