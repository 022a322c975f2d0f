/// Percent-decoding of path segments and query strings to raw bytes (keys and values need not
/// be UTF-8).
enum PercentEncoding {
    /// Decodes `%XX` escapes; nil if an escape is malformed. `+` is kept as is (RFC 3986, not
    /// HTML forms): encode a space as `%20`.
    static func decode(_ text: Substring) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Splits a raw query string into decoded `(name, value)` pairs, in order.
    static func decodeQuery(_ query: String?) -> [(name: String, value: [UInt8])]? {
        guard let query, !query.isEmpty else { return [] }
        var pairs: [(name: String, value: [UInt8])] = []
        for item in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), let value = parts.count == 2 ? decode(parts[1]) : [] else { return nil }
            pairs.append((String(decoding: name, as: UTF8.self), value))
        }
        return pairs
    }
}
