import ArgumentParser
import Engine
import Explorer
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the explorer's text report without a terminal.")

    @OptionGroup var input: ScanOptions

    @Option(name: .long, help: "Crosshair voxel as I,J,K (default: the volume centre).")
    var crosshair: String?

    @Option(name: .long, help: "Output file (default: a timestamped file in the current directory).")
    var out: String?

    @Flag(name: .long, help: "Colour the report with 24-bit ANSI escapes.")
    var ansi = false

    @Option(name: .long, help: "Theme for --ansi colours.")
    var theme: String = "default"

    func run() throws {
        let scene = try input.loadScene()
        var explorer = Explorer(scene: scene, width: 80, height: 24, themes: try loadThemes(first: theme),
                                methods: [], classNames: [])
        if let crosshair {
            let parts = crosshair.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            let dims = scene.ct.grid.dims
            guard parts.count == 3, let p = parts as? [Int], scene.ct.grid.contains(p[0], p[1], p[2]) else {
                throw ValidationError("--crosshair must be I,J,K inside the volume (0…\(dims[0] - 1), "
                                      + "0…\(dims[1] - 1), 0…\(dims[2] - 1)); got '\(crosshair)'")
            }
            explorer.state.crosshair = p
        }
        let session = ExplorerSession(explorer: explorer, controller: nil)
        session.start()
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
