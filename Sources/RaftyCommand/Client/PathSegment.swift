/// Percent-encoding of keys and query values for the HTTP API.
enum PathSegment {
    /// Encodes `text` as ONE path segment: every byte except RFC 3986 unreserved characters
    /// (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`, so `/`, `%`, `?`, `#`, spaces and non-ASCII
    /// characters cannot change the shape of the URL.
    ///
    /// A key made only of dots (`.`, `..`) is encoded entirely, so it is not read as a dot-segment.
    static func encode(_ text: String) -> String {
        let bytes = Array(text.utf8)
        if !bytes.isEmpty, bytes.allSatisfy({ $0 == UInt8(ascii: ".") }) {
            return String(repeating: "%2E", count: bytes.count)
        }
        return self.encode(bytes: bytes)
    }

    /// Encodes raw bytes the same way (also used for query values).
    static func encode(bytes: [UInt8]) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        for byte in bytes {
            if Self.isUnreserved(byte) {
                output.append(byte)
            } else {
                output.append(UInt8(ascii: "%"))
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
