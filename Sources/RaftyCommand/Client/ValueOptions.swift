import ArgumentParser
internal import Foundation

/// Where a written value comes from: the `VALUE` argument or `--value-file PATH` (`-` is stdin).
struct ValueOptions: ParsableArguments {
    /// The value to write.
    @Argument(help: "The value (or use --value-file).")
    var value: String?

    /// File to read the value from (`-`: stdin).
    @Option(name: .customLong("value-file"), help: ArgumentHelp("Read the value from a file; '-' reads stdin.", valueName: "path"))
    var valueFile: String?

    /// Rejects bad values and combinations; the error is a usage error (exit 2).
    mutating func validate() throws {
        switch (self.value, self.valueFile) {
        case (nil, nil): throw ValidationError("give a VALUE or --value-file")
        case (.some, .some): throw ValidationError("give either a VALUE or --value-file, not both")
        default: break
        }
    }

    /// The value's bytes.
    func bytes() throws(RaftyClientError) -> [UInt8] {
        if let value = self.value { return Array(value.utf8) }
        let path = self.valueFile ?? "-"
        if path == "-" {
            return Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .input("cannot read --value-file \(path)")
        }
        return Array(data)
    }
}
