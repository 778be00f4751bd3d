import ArgumentParser
import Engine
import Foundation

/// Hierarchical clustering of the explained classes by how their explanations overlap.
struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Hierarchical clustering of classes from the global mean-mass matrix, as a dendrogram.",
        discussion: """
            As the official analysis: W[to, from] = √(mean mass), missing → 0, d = max(W) − W read from \
            the lower triangle (R's as.dist, classes in alphabetical order); background left out. \
            Linkage: average (default), complete, single, or ward (scipy's, which is R's ward.D2). \
            Prints a text dendrogram and the cophenetic correlation.
            """)

    @Argument(help: "Results CSV in the official wide schema.")
    var results: String

    @Option(help: "Linkage: \(LinkageMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method = "average"

    @Option(help: "Write the tree in Newick format.")
    var newick: String?

    @Option(help: "Write the dendrogram as SVG.")
    var svg: String?

    @OptionGroup var groups: GroupsOption

    func run() throws {
        let linkage: LinkageMethod = try choice(method, "--method")
        let (_, cube) = try readMassCube(results)
        let palette = try groups.load(names: cube.classes + cube.rois)
        let clustering = try HierarchicalClustering(matrix: MassMatrix(cube: cube), method: linkage, source: results)
        print(clustering.textDendrogram(), terminator: "")
        if let newick { try writeOutput(clustering.newick, to: newick) }
        if let svg { try writeOutput(Figures.dendrogram(clustering, groups: palette), to: svg) }
    }
}
