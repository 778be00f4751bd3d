import ArgumentParser
import Engine

/// `agg2exp info FILE`: geometry, datatype, value range and (for label maps) the labels present.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Describe a NIfTI volume: dims, datatype, spacing, orientation, affine, value range, labels.")

    @Argument(help: "A .nii or .nii.gz file.")
    var file: String

    @Option(name: .long, help: "Label names (ITK-SNAP, 3D Slicer colour table or JSON); implies a label map.")
    var labels: String?

    @Flag(name: .long, help: "Treat the file as a label map even if it does not look like one.")
    var asLabels = false

    func run() throws {
        let info = try NIfTIInfo.inspect(file, labelNamesPath: labels, asLabels: asLabels)
        print(info.render())
    }
}
