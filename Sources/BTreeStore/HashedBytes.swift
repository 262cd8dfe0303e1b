/// A byte string as a set element or dictionary key, hashed in one call over its bytes.
///
/// `[UInt8]` hashes byte by byte, one `Hasher.combine` each; checking a transaction of 100 puts
/// for duplicate keys, and rebuilding the index from a snapshot, spent most of their time there.
struct HashedBytes: Hashable {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
