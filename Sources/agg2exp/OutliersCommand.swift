import ArgumentParser
import Engine
import Foundation

/// Scans whose explanations look unusual, per explained class, set against Dice.
struct OutliersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outliers",
        abstract: "IsolationForest outlier scores per explained class, with Spearman ρ against Dice.",
        discussion: """
            Per class c, a forest (scikit-learn defaults: 100 trees, max_samples min(256, n)) is fitted \
            on the reference scans' vectors of mass(c, s) over every segment, background included, and \
            scores SCORED.csv (default: the reference scans) with decision_function: lower is more \
            anomalous, below 0 a predicted outlier. With {c}_dice columns, Spearman's ρ between each \
            class's score and its Dice, and between the mean score and the mean Dice, are reported.
            """)

    @Argument(help: "Reference results CSV the forests are fitted on.")
    var reference: String

    @Argument(help: "Results CSV to score (default: the reference).")
    var scored: String?

    @Option(help: "Explained class, or all.")
    var target = "all"

    @Option(help: "Random seed of the forests.")
    var seed: UInt64 = 123

    @Option(help: "How many most and least anomalous scans to list per class.")
    var top = 3

    @Option(help: "Mark this scan (patient id of the scored file) in the listing and the figure.")
    var scan: String?

    @Option(help: "Write the scores (one row per scored scan, one column per class) as CSV.")
    var csv: String?

    @Option(help: "Write score-vs-Dice scatter plots (or score strips without Dice) as SVG.")
    var svg: String?

    @OptionGroup var groups: GroupsOption

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
    }

    func run() throws {
        let (referenceTable, referenceCube) = try readMassCube(reference)
        let (scoredTable, scoredCube) = try scored.map { try readMassCube($0) } ?? (referenceTable, referenceCube)
        if let scan, scoredCube.scanIndex(scan) == nil {
            throw ValidationError("scan \"\(scan)\" is not a patient in \(scored ?? reference)")
        }
        let palette = try groups.load(names: referenceCube.classes + referenceCube.rois)
        let analysis = try OutlierAnalysis(reference: referenceCube, scored: scoredCube, scoredTable: scoredTable,
                                           targets: target == "all" ? nil : [target],
                                           options: IsolationForest.Options(seed: seed))
        print(analysis.text(top: top), terminator: "")
        if target != "all", let only = analysis.classes.first {
            print("")
            print(analysis.scanText(only, mark: scan), terminator: "")
        }
        if let csv { try writeOutput(analysis.scoresCSV(), to: csv) }
        if let svg { try writeOutput(Figures.outliers(analysis, groups: palette, mark: scan), to: svg) }
    }
}
