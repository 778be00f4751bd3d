import ArgumentParser
import Engine
import Foundation

/// Concatenates per-shard results CSVs (from `aggregate --shard`) into one table.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge results CSVs with identical columns into one (rows sorted by patient).")

    @Argument(help: "Results CSV files to merge.")
    var parts: [String]

    @Option(help: "Output CSV.")
    var csv: String

    func validate() throws {
        guard !parts.isEmpty else { throw ValidationError("give at least one results CSV to merge") }
    }

    func run() throws {
        try Preflight.output(csv, inputs: parts)
        let tables = try parts.map { try ResultsTable.read(URL(fileURLWithPath: $0)) }
        let merged = try ResultsTable.merge(tables, sources: parts)
        try merged.write(to: URL(fileURLWithPath: csv))
        printError("merged \(merged.patients.count) rows from \(parts.count) files into \(csv)")
    }
}

/// Writes a line to stderr (diagnostics never mix with data on stdout).
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
