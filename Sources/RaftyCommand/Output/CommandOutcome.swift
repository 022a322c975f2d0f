import ArgumentParser

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a `rafty` invocation ends: the exit code and the text to print on stdout or stderr.
struct CommandOutcome: Equatable, Sendable {
    /// Exit code for success.
    static let successCode: Int32 = 0
    /// Exit code for an operation that failed (the server said no, no endpoint reachable, ...).
    static let operationFailedCode: Int32 = 1
    /// Exit code for bad flags or arguments.
    static let usageErrorCode: Int32 = 2

    /// The process exit code.
    var exitCode: Int32
    /// Text for stdout (help), or nil.
    var standardOutput: String?
    /// Text for stderr (usage or error message), or nil.
    var standardError: String?

    /// A clean run: nothing more to print.
    static let success = CommandOutcome(exitCode: successCode, standardOutput: nil, standardError: nil)

    /// Creates an outcome from its parts.
    init(exitCode: Int32, standardOutput: String?, standardError: String?) {
        self.exitCode = exitCode
        self.standardOutput = standardOutput
        self.standardError = standardError
    }

    /// Maps an error thrown by parsing or running `command` to the contract's exit code.
    ///
    /// - `--help` (and other clean exits) print ArgumentParser's text on stdout, exit 0;
    /// - usage and validation errors print the usage message on stderr, exit 2;
    /// - everything else is an operation failure: one line `rafty: error: ...`, exit 1.
    init(error: any Error, for command: any ParsableCommand.Type) {
        if let failure = error as? RaftyClientError {
            self.init(exitCode: Self.operationFailedCode, standardOutput: nil, standardError: Self.errorLine(failure.description))
            return
        }
        if let code = error as? ExitCode {
            // A command asked for a specific code (e.g. `status` when every endpoint failed).
            self.init(exitCode: code.rawValue, standardOutput: nil, standardError: nil)
            return
        }
        let code = command.exitCode(for: error)
        if code == .success {
            let text = command.fullMessage(for: error)
            self.init(exitCode: Self.successCode, standardOutput: text.isEmpty ? nil : text, standardError: nil)
        } else if code == .validationFailure {
            self.init(exitCode: Self.usageErrorCode, standardOutput: nil, standardError: command.fullMessage(for: error))
        } else {
            self.init(
                exitCode: Self.operationFailedCode,
                standardOutput: nil,
                standardError: Self.errorLine(command.message(for: error))
            )
        }
    }

    /// Formats `message` as the single error line the contract asks for.
    static func errorLine(_ message: String) -> String {
        let oneLine = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        let trimmed = oneLine.hasPrefix("Error: ") ? String(oneLine.dropFirst("Error: ".count)) : oneLine
        return "rafty: error: \(trimmed)"
    }

    /// Prints the texts to their streams.
    func write() {
        if let text = self.standardOutput { StandardStreams.writeLine(text, to: .output) }
        if let text = self.standardError { StandardStreams.writeLine(text, to: .error) }
    }

    /// Ends the process with ``exitCode``.
    func exitProcess() -> Never {
        exit(self.exitCode)
    }
}
