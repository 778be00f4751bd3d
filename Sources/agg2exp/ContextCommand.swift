import ArgumentParser
import Engine
import Foundation

/// How much of each class's explanation lies inside its own segment, over the dataset.
struct ContextCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "context",
        abstract: "Self-mass mass(c, c) per class over scans, as box plots ranked by median.",
        discussion: """
            A small self-mass means the model relies on context outside the segment. Box plots follow \
            ggplot2: R type-7 quartiles, whiskers to 1.5 × IQR, points beyond. Background is left out \
            unless --include-background is given.
            """)

    @Argument(help: "Results CSV in the official wide schema.")
    var results: String

    @Flag(help: "Keep background as a class.")
    var includeBackground = false

    @Option(help: "Mark this scan (patient id) on every box plot.")
    var scan: String?

    @Option(help: "Write the box plots as SVG.")
    var svg: String?

    @OptionGroup var groups: GroupsOption

    func run() throws {
        let (_, cube) = try readMassCube(results)
        if let scan, cube.scanIndex(scan) == nil {
            throw ValidationError("scan \"\(scan)\" is not a patient in \(results)")
        }
        let palette = try groups.load(names: cube.classes + cube.rois)
        let context = try SelfMass(cube: cube, includeBackground: includeBackground)
        print(context.text(mark: scan), terminator: "")
        if let svg { try writeOutput(Figures.context(context, groups: palette, mark: scan), to: svg) }
    }
}
