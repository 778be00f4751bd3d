import ArgumentParser
import Engine
import Foundation

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Segment a CT scan with a model directory and write the label map.",
        discussion: """
            The scan is preprocessed as model.json says (orientation, intensity window, spacing) and \
            segmented by sliding-window inference. The label map is written in that model grid, with \
            its affine. Progress goes to stderr when stderr is a terminal.
            """)

    @Argument(help: "CT scan (NIfTI .nii or .nii.gz).")
    var scan: String

    @Option(name: .long, help: "Model directory with model.json and model.safetensors (default: SampleData/model).")
    var model: String?

    @Option(name: .long, help: "Output label map (.nii or .nii.gz), written atomically.")
    var out: String

    @OptionGroup var compute: ThreadsOption
    @OptionGroup var resources: ResourceOptions

    func run() throws {
        compute.apply()
        guard let directory = model ?? SampleData.modelDirectory else {
            throw DataError("no --model given and SampleData/model was not found (set AGG2EXP_SAMPLE_DATA)")
        }
        try Preflight.output(out, inputs: [scan], extensions: [".nii", ".nii.gz"])
        let segmentation = try SegmentationModel.load(directory: directory)
        try Preflight.check(scan: scan, model: segmentation, resources: resources)
        let input = segmentation.preprocess(try NIfTI.readVolume(scan))
        var progress: ProgressHandler?
        if isatty(2) == 1 {
            progress = { (fraction: Double) in
                FileHandle.standardError.write(Data(String(format: "\rsegmenting %3.0f%%", fraction * 100).utf8))
            }
        }
        let (_, labels) = try segmentation.predict(input, progress: progress, cancel: nil)
        if progress != nil { FileHandle.standardError.write(Data("\n".utf8)) }
        let datatype: NIfTIDatatype = segmentation.classCount <= 256 ? .uint8 : .int16
        try NIfTI.write(labels, to: out, datatype: datatype)
    }
}
