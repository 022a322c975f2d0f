// libFuzzer target: recovery of every stored file from damage. Each input writes real data through
// a store (WAL segment, meta, identity or snapshot), damages the file as the input says (bytes
// flipped, a truncation) and opens it again: the store must either report the damage or return
// exactly what was written (for the WAL, a prefix of it: a torn tail may be dropped) — never a
// crash, never other data. Built by scripts/fuzz.sh from RaftCore and Rafty's storage files only.
#if canImport(Glibc)
import Glibc
#endif
import RaftCore

// The number of inputs run; libFuzzer calls the target from one thread at a time.
nonisolated(unsafe) var run = 0

/// A fresh directory per input (the previous one removed), under /dev/shm when it exists.
func freshDirectory() -> String {
    let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    let root = "\(base)/rafty-fuzz-storage-\(getpid())"
    if run == 0 { try? FileSystem.removeTree(root) }
    mkdir(root, 0o700)
    try? FileSystem.removeTree("\(root)/\(run)")
    run += 1
    return root + "/\(run)"
}

/// Reads the input as: mode, a size, then (offset: 2 bytes, xor) damage triples; the last byte,
/// if the count is odd, truncates.
struct Damage {
    var flips: [(offset: Int, xor: UInt8)] = []
    var truncate: Int?

    init(_ bytes: ArraySlice<UInt8>) {
        var rest = bytes
        while rest.count >= 3 {
            let offset = Int(rest[rest.startIndex]) << 8 | Int(rest[rest.startIndex + 1])
            self.flips.append((offset, rest[rest.startIndex + 2]))
            rest = rest.dropFirst(3)
        }
        if let last = rest.first { self.truncate = Int(last) }
    }

    /// Applies the damage to `path`.
    func apply(to path: String) {
        guard let file = fopen(path, "r+b") else { return }
        defer { fclose(file) }
        fseek(file, 0, SEEK_END)
        let size = ftell(file)
        guard size > 0 else { return }
        for flip in self.flips where flip.xor != 0 {
            let offset = flip.offset % size
            fseek(file, offset, SEEK_SET)
            let byte = UInt8(truncatingIfNeeded: fgetc(file))
            fseek(file, offset, SEEK_SET)
            fputc(Int32(byte ^ flip.xor), file)
        }
        fflush(file)
        if let truncate = self.truncate { ftruncate(fileno(file), off_t(size - 1 - truncate % size)) }
    }
}

func damageWAL(_ size: UInt8, _ damage: Damage) {
    let directory = freshDirectory()
    var written: [Entry] = []
    do {
        let store = try FileLogStore(directory: directory)
        for index in 1...UInt64(size % 12 + 1) {
            written.append(Entry(term: index / 4 + 1, index: index, payload: .command(Array(repeating: UInt8(index), count: Int(index) * 3))))
        }
        try store.append(written)
        store.close()
    } catch {
        fatalError("writing the WAL failed: \(error)")
    }
    let segments = (try? FileSystem.list(directory))?.filter { $0.hasSuffix(".wal") } ?? []
    for segment in segments { damage.apply(to: directory + "/" + segment) }
    guard let reopened = try? FileLogStore(directory: directory) else { return }  // damage reported
    defer { reopened.close() }
    guard reopened.lastIndex >= reopened.firstIndex, reopened.lastIndex > 0 else { return }
    guard let entries = try? reopened.entries(in: reopened.firstIndex..<(reopened.lastIndex + 1), maxBytes: .max) else { return }
    precondition(reopened.firstIndex == 1 && entries.count <= written.count, "the WAL grew: \(entries.count) > \(written.count)")
    precondition(Array(written.prefix(entries.count)) == entries, "the reopened WAL returned entries that were never written")
}

func damageMeta(_ size: UInt8, _ damage: Damage) {
    let directory = freshDirectory()
    let state = StableState(
        nodeID: UInt64(size) + 1, hardState: HardState(term: UInt64(size) * 3, vote: size % 2 == 0 ? 2 : nil, commit: UInt64(size)),
        configuration: size % 3 == 0 ? nil : ClusterConfiguration(voters: [1, 2, 3], learners: [4], addresses: [1: "127.0.0.1:1"]))
    do { try FileStableStore(directory: directory).save(state) } catch { fatalError("saving meta failed: \(error)") }
    damage.apply(to: directory + "/meta")
    guard let reopened = try? FileStableStore(directory: directory) else { return }
    precondition(reopened.state == state, "meta reopened as \(reopened.state), written \(state)")
}

func damageIdentity(_ size: UInt8, _ damage: Damage) {
    let directory = freshDirectory()
    let written: NodeIdentity
    do {
        let store = try NodeIdentityStore(directory: directory)
        try store.update { identity in
            identity.clusterID = UInt64(size) << 3
            for peer in 0..<UInt64(size % 5) { identity.peerIncarnations[peer + 1] = peer &* 0x9E37_79B9 + 1 }
        }
        written = store.identity
    } catch {
        fatalError("saving the identity failed: \(error)")
    }
    damage.apply(to: directory + "/identity")
    guard let reopened = try? NodeIdentityStore(directory: directory) else { return }
    precondition(reopened.identity == written, "identity reopened as \(reopened.identity), written \(written)")
}

func damageSnapshot(_ size: UInt8, _ damage: Damage, meta: Bool) {
    let directory = freshDirectory()
    let metadata = SnapshotMetadata(index: UInt64(size) + 5, term: 2, configuration: ClusterConfiguration(voters: [1, 2, 3]))
    let data = (0..<Int(size) * 40).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    do {
        let store = try FileSnapshotStore(directory: directory)
        let writer = try store.makeWriter(for: metadata)
        try writer.write(data)
        _ = try writer.commit()
    } catch {
        fatalError("writing the snapshot failed: \(error)")
    }
    damage.apply(to: "\(directory)/\(FileSnapshotStore.name(of: metadata))/\(meta ? "meta" : "data")")
    guard let store = try? FileSnapshotStore(directory: directory), let reader = try? store.openNewest() else { return }
    precondition(reader.snapshot.metadata == metadata, "the snapshot's metadata changed")
    guard let read = try? reader.readAll(chunkSize: 97) else { return }
    precondition(read == data, "the snapshot read back other bytes than were written")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard bytes.count >= 2 else { return 0 }
    let damage = Damage(bytes[2...])
    switch bytes[0] % 5 {
    case 0: damageWAL(bytes[1], damage)
    case 1: damageMeta(bytes[1], damage)
    case 2: damageIdentity(bytes[1], damage)
    case 3: damageSnapshot(bytes[1], damage, meta: false)
    default: damageSnapshot(bytes[1], damage, meta: true)
    }
    return 0
}
