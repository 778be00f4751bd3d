import ArgumentParser
import Engine
import Foundation

/// The dependency graph of classes (RoI → explained class, weight = global mean mass).
struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Dependency graph: per explained class, the RoIs its explanation relies on most.",
        discussion: """
            Each class keeps its top k RoIs (--top-k, default 5) or its RoIs in descending weight while \
            their cumulative mass stays ≤ a threshold (--cumulative; the paper uses 0.35). Edge width is 2·(w + 0.02)/(max w + 0.02); \
            nodes are coloured by anatomical group. --sign pos|neg|both reads the _mass_pos / _mass_neg \
            columns (red and blue edges). --dot writes Graphviz DOT; --svg writes the DOT (beside the SVG \
            unless --dot names it) and lays it out with Graphviz `dot`, which must be on PATH.
            """)

    @Argument(help: "Results CSV in the official wide schema.")
    var results: String

    @Option(help: "Keep the k RoIs with the largest mean mass per class (default 5).")
    var topK: Int?

    @Option(help: "Keep RoIs while their cumulative mean mass stays ≤ this threshold in (0, 1].")
    var cumulative: Double?

    @Option(help: "Edges from the positive (pos), negative (neg) or both mass column families.")
    var sign: String?

    @Option(help: "Write the graph as Graphviz DOT.")
    var dot: String?

    @Option(help: "Lay the graph out with Graphviz and write SVG.")
    var svg: String?

    @OptionGroup var groups: GroupsOption

    func validate() throws {
        if topK != nil && cumulative != nil { throw ValidationError("give either --top-k or --cumulative, not both") }
    }

    func run() throws {
        let selection: EdgeSelection = cumulative.map { .cumulative($0) } ?? .topK(topK ?? 5)
        try selection.validate()
        let families: [MassFamily]
        switch sign {
        case nil: families = [.abs]
        case "pos": families = [.pos]
        case "neg": families = [.neg]
        case "both": families = [.pos, .neg]
        case let s?: throw ValidationError("--sign must be one of pos, neg, both, not \"\(s)\"")
        }
        let table = try ResultsTable.read(URL(fileURLWithPath: results))
        let cubes = try families.map { try MassCube(table: table, family: $0, source: results) }
        let palette = try groups.load(names: cubes.flatMap { $0.classes + $0.rois })
        let graph = try DependencyGraph(matrices: cubes.map { MassMatrix(cube: $0) }, selection: selection)
        print(graph.adjacencyText(), terminator: "")
        let dotPath = dot ?? svg.map { ($0 as NSString).deletingPathExtension + ".dot" }
        guard let dotPath else { return }
        let title = "Dependency graph (\(selection.description)), \(cubes[0].patients.count) scans"
        try writeOutput(graph.dot(groups: palette, title: title), to: dotPath)
        if let svg { try Graphviz.render(dot: dotPath, svg: svg) }
    }
}

/// Runs Graphviz `dot` from PATH.
enum Graphviz {
    struct Missing: Error, CustomStringConvertible {
        let dotFile: String
        var description: String {
            "--svg needs Graphviz `dot` on PATH (Debian: apt-get install graphviz); the DOT file was written to \(dotFile)"
        }
    }

    struct Failed: Error, CustomStringConvertible {
        let status: Int32
        let message: String
        var description: String { "Graphviz dot failed (exit \(status)): \(message)" }
    }

    static func executable() -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent("dot")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// Lays out `dot` into `svg` through a temporary file in the SVG's directory, then renames.
    static func render(dot: String, svg: String) throws {
        guard let exe = executable() else { throw Missing(dotFile: dot) }
        let target = URL(fileURLWithPath: svg)
        let temporary = target.deletingLastPathComponent()
            .appendingPathComponent(".\(target.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        let process = Process()
        process.executableURL = exe
        process.arguments = ["-Tsvg", dot, "-o", temporary.path]
        let err = Pipe()
        process.standardError = err
        try process.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw Failed(status: process.terminationStatus, message: message.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard rename(temporary.path, target.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw OutputError(path: svg, reason: reason)
        }
    }
}
