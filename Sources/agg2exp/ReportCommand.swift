import ArgumentParser
import Engine
import Explorer
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the explorer's text report without a terminal.")

    @OptionGroup var input: ScanOptions

    @Option(name: .long, help: "Target class, by name or index (default: class 1). Needs a model.")
    var target: String?

    @Option(name: .long, help: ArgumentHelp("Attribution method (default: gradient). Needs a model.",
                                            valueName: AttributionMethodKind.allCases.map(\.rawValue).joined(separator: "|")))
    var method: String?

    @Option(name: .long, help: "Crosshair voxel as I,J,K (default: the volume centre).")
    var crosshair: String?

    @Option(name: .long, help: "Output file (default: a timestamped file in the current directory).")
    var out: String?

    @Flag(name: .long, help: "Colour the report with 24-bit ANSI escapes.")
    var ansi = false

    @Option(name: .long, help: "Theme for --ansi colours.")
    var theme: String = "default"

    func run() throws {
        try Preflight.output(out, inputs: [input.scan, input.labels, input.labelNames].compactMap { $0 })
        let loaded = try input.load()
        let scene = loaded.scene
        var explorer = makeExplorer(loaded, themes: try loadThemes(first: theme))
        if loaded.provider == nil, target != nil || method != nil {
            throw ValidationError("--target and --method need a model (--model DIR)")
        }
        if let target {
            guard let index = Int(target).flatMap({ explorer.classNames.indices.contains($0) ? $0 : nil })
                    ?? explorer.classNames.firstIndex(of: target) else {
                throw ValidationError("unknown target '\(target)'; the model's classes are "
                                      + explorer.classNames.enumerated().map { "\($0.offset) \($0.element)" }
                                        .joined(separator: ", "))
            }
            explorer.state.target = index
        }
        if let method {
            guard let index = explorer.methods.firstIndex(of: method) else {
                throw ValidationError("unknown method '\(method)'; choose one of "
                                      + explorer.methods.joined(separator: ", "))
            }
            explorer.state.methodIndex = index
        }
        if let crosshair {
            let parts = crosshair.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            let dims = scene.ct.grid.dims
            guard parts.count == 3, let p = parts as? [Int], scene.ct.grid.contains(p[0], p[1], p[2]) else {
                throw ValidationError("--crosshair must be I,J,K inside the volume (0…\(dims[0] - 1), "
                                      + "0…\(dims[1] - 1), 0…\(dims[2] - 1)); got '\(crosshair)'")
            }
            explorer.state.crosshair = p
        }
        let session = ExplorerSession(explorer: explorer, controller: loaded.provider.map(AnalysisController.init))
        session.start()
        session.finishComputations()
        if let message = session.explorer.state.message, message.isError {
            throw DataError(message.text)
        }
        let text = Report.make(session.explorer, ansi: ansi, date: Date())
        if let out {
            try Report.write(text, to: URL(fileURLWithPath: out))
            print(out)
        } else {
            let url = try Report.export(session.explorer, ansi: ansi,
                                        directory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                                        date: Date())
            print(url.path)
        }
    }
}
