import ArgumentParser
import Engine
import Foundation

/// The anatomical-groups option shared by the dataset-level analysis commands.
struct GroupsOption: ParsableArguments {
    @Option(help: "Anatomical groups JSON (node and label colours; default: the official TSV2 mapping).")
    var groups: String?

    /// The groups file checked against the classes and RoIs of the data, or the built-in mapping.
    func load(names: [String]) throws -> AnatomicalGroups {
        guard let groups else { return .default }
        let loaded = try AnatomicalGroups.load(groups)
        try loaded.validate(against: names, path: groups)
        return loaded
    }
}

/// An output file that could not be written; names the file.
struct OutputError: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "\(path): cannot write: \(reason)" }
}

/// Writes `text` atomically (temporary file in the same directory, then rename).
func writeOutput(_ text: String, to path: String) throws {
    do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw OutputError(path: path, reason: (error as NSError).localizedDescription)
    }
}

func writeOutput(_ svg: SVGDocument, to path: String) throws {
    try writeOutput(svg.xml, to: path)
}

/// Reads a results CSV and its masses of one column family.
func readMassCube(_ path: String, family: MassFamily = .abs) throws -> (table: ResultsTable, cube: MassCube) {
    let table = try ResultsTable.read(URL(fileURLWithPath: path))
    return (table, try MassCube(table: table, family: family, source: path))
}
