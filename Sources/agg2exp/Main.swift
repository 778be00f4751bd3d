import ArgumentParser
import Engine
import Foundation

/// A failure of the data or the work rather than of the command line: exit status 1, one line,
/// no usage text.
struct DataError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Exit statuses (README "Exit codes"): 0 success, 1 bad data or failed work, 2 a batch that
/// finished with some scans failed, 64 a usage error (EX_USAGE), 128 + n killed by signal n.
enum ExitStatus {
    static let dataError: Int32 = 1
    static let partialBatch: Int32 = 2
    static let usage: Int32 = 64
}

extension Agg2Exp {
    /// Parses, runs, and turns every error into one line and the documented exit status. Usage
    /// errors print the failing subcommand's usage, not the root one.
    static func main() {
        AtomicFile.installSignalCleanup()
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            try command.run()
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch let error as CleanExit {
            exit(withError: error)
        } catch let error as ValidationError {
            printError("Error: \(oneLine(error.message))")
            printError("Usage: " + usageString(for: type(of: command)))
            let name = type(of: command).configuration.commandName ?? ""
            printError("  See 'agg2exp \(name) --help' for more information.")
            Foundation.exit(ExitStatus.usage)
        } catch where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // The parser's own requests raised while running (`--help` and `help` reach a command
            // as its internal help error): its reporting prints the help and exits 0.
            exit(withError: error)
        } catch {
            printError("error: \(oneLine(describe(error)))")
            Foundation.exit(ExitStatus.dataError)
        }
        Foundation.exit(0)
    }

    /// The error's own description; Foundation errors give their localized sentence instead of
    /// the NSError dump.
    static func describe(_ error: Error) -> String {
        if error is CocoaError || type(of: error) is NSError.Type {
            return (error as NSError).localizedDescription
        }
        return String(describing: error)
    }

    /// Multi-line details joined with "; " so every error is one line.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
    }
}
