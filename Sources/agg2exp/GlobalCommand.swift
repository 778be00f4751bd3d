import ArgumentParser
import Engine
import Foundation

/// Dataset-level (global) RoI statistics from a results CSV, ranked by median mass.
struct GlobalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "global",
        abstract: "Per target and RoI: mass distribution over scans (mean, median, quartiles, min, max), ranked by median.",
        discussion: """
            Quartiles use R's default (type 7) quantile, as the official boxplots do. Background is \
            left out as a target and as an RoI unless --include-background is given; masses keep \
            their full-volume denominator either way.
            """)

    @Argument(help: "Results CSV in the official wide schema.")
    var results: String

    @Option(help: "Explained target (default: every target).")
    var target: String?

    @Flag(help: "Keep background as a target and as an RoI.")
    var includeBackground = false

    @Option(help: "Write the statistics as JSON.")
    var json: String?

    func run() throws {
        try Preflight.output(json, inputs: [results])
        let table = try ResultsTable.read(URL(fileURLWithPath: results))
        let rankings = try GlobalStatistics.rankings(target: target, in: table,
                                                     includeBackground: includeBackground, source: results)
        print(Self.render(rankings), terminator: "")
        if let json {
            try writeText(GlobalStatistics.json(rankings), to: json)
        }
    }

    /// A plain-text table per target, RoIs in ranking order.
    static func render(_ rankings: [(target: String, rois: [RoISummary])]) -> String {
        var out = ""
        for (target, rois) in rankings {
            let width = max(7, rois.map(\.roi.count).max() ?? 0)
            out += "target \(target)\n"
            out += "  " + "segment".padding(toLength: width, withPad: " ", startingAt: 0)
            for h in ["median", "q1", "q3", "min", "max", "mean"] { out += h.leftPadded(9) }
            out += "    n\n"
            for r in rois {
                let s = r.summary
                out += "  " + r.roi.padding(toLength: width, withPad: " ", startingAt: 0)
                for v in [s.median, s.q1, s.q3, s.min, s.max, s.mean] { out += String(format: "%.4f", v).leftPadded(9) }
                out += String(s.n).leftPadded(5) + "\n"
            }
            out += "\n"
        }
        return out
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? " " + self : String(repeating: " ", count: width - count) + self
    }
}
