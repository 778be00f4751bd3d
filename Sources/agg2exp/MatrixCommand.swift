import ArgumentParser
import Engine
import Foundation

/// The global class × RoI mass matrix of a results CSV.
struct MatrixCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matrix",
        abstract: "Global class × RoI matrix: mean (or median) over scans of mass(class, RoI).",
        discussion: """
            Rows are explained classes, columns RoIs. --process pos|neg reads the _mass_pos / _mass_neg \
            columns written when positive and negative attributions are aggregated separately; abs (the \
            default) reads the plain _mass columns. Background is left out as class and RoI unless \
            --include-background is given; masses keep their full-volume denominator either way.
            """)

    @Argument(help: "Results CSV in the official wide schema.")
    var results: String

    @Option(help: "Statistic over scans: mean or median.")
    var stat = "mean"

    @Option(help: "Mass columns: abs (plain _mass), pos or neg.")
    var process = "abs"

    @Flag(help: "Keep background as a class and as an RoI.")
    var includeBackground = false

    @Option(help: "Write the heatmap as SVG.")
    var svg: String?

    @Option(help: "Write the matrix as CSV.")
    var csv: String?

    @OptionGroup var groups: GroupsOption

    func run() throws {
        let statistic: MatrixStatistic = try choice(stat, "--stat")
        let family: MassFamily = try choice(process, "--process")
        let (_, cube) = try readMassCube(results, family: family)
        let palette = try groups.load(names: cube.classes + cube.rois)
        let matrix = MassMatrix(cube: cube, statistic: statistic, includeBackground: includeBackground)
        print(matrix.textHeatmap(), terminator: "")
        if let csv { try writeOutput(matrix.csvText(), to: csv) }
        if let svg { try writeOutput(Figures.matrix(matrix, groups: palette), to: svg) }
    }
}
