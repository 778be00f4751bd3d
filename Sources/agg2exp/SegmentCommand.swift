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

            --model may also be an nnU-Net v2 results folder (plans.json + dataset.json + fold_N/): \
            then nnU-Net's own pipeline runs (crop to non-zero, its normalisation, resampling to the \
            plans' spacing, Gaussian-blended tiles, fold ensemble, logits resampled back) and the label \
            map is written on the scan's own grid, as nnU-Net writes it. \
            With --pipeline totalsegmentator (the default for Dataset29x_TotalSegmentator… folders) \
            TotalSegmentator's steps wrap it: RAS, order-1 zoom to the plans' spacing, int32 truncation, \
            tile step 0.8, fold 0, and the labels zoomed back (order 0) to the scan. Repeating --model \
            with several nnU-Net folders (TotalSegmentator's total parts 291–295) merges their label maps \
            as TotalSegmentator does: classes in part order, later parts overwriting where non-zero. \
            --grid model writes \
            the nnU-Net label map on the network grid instead (permuted, cropped and resampled as nnU-Net \
            feeds it).
            """)

    @Argument(help: "CT scan (NIfTI .nii or .nii.gz).")
    var scan: String

    @Option(name: .long, help: ArgumentHelp("Model directory with model.json and model.safetensors (default: "
        + "SampleData/model), or nnU-Net results folders (repeat it for the parts of a multi-part model, merged as "
        + "TotalSegmentator merges them)."))
    var model: [String] = []

    @Option(name: .long, help: "Output label map (.nii or .nii.gz), written atomically.")
    var out: String

    @Option(help: ArgumentHelp("Grid of --out for nnU-Net folders: scan (default) or model (the network grid).",
                               valueName: "scan|model"))
    var grid: String?

    @OptionGroup var compute: ThreadsOption
    @OptionGroup var resources: ResourceOptions
    @OptionGroup var nnunet: NNUNetOptions

    func run() throws {
        compute.apply()
        guard let first = model.first ?? SampleData.modelDirectory else {
            throw DataError("no --model given and SampleData/model was not found (set AGG2EXP_SAMPLE_DATA)")
        }
        let directories = model.isEmpty ? [first] : model
        try Preflight.output(out, inputs: [scan], extensions: [".nii", ".nii.gz"])
        let outGrid = try OutputGrid.parse(grid, nnunet: directories.contains(where: NNUNetFolder.isFolder))
        let loaded = try LoadedModel.load(directories, nnunet: nnunet, windowTarget: nil)
        switch loaded {
        case .nnunet(let parts, _):
            try loaded.preflight(scan: scan, resources: resources)
            let prepared = try PreparedScan.load(scan, model: loaded, progress: ProgressReporter(),
                                                 scanLabels: outGrid == .scan)
            let labels = prepared.scanLabels ?? prepared.prediction
            try NIfTI.write(labels, to: out, datatype: parts.classes.count <= 256 ? .uint8 : .int16)
        case .monai(let segmentation):
            try Preflight.check(scan: scan, model: segmentation, resources: resources)
            let input = segmentation.preprocess(try NIfTI.readVolume(scan))
            let progress = progressHandler()
            let (_, labels) = try segmentation.predict(input, progress: progress, cancel: nil)
            if progress != nil { FileHandle.standardError.write(Data("\n".utf8)) }
            let datatype: NIfTIDatatype = segmentation.classCount <= 256 ? .uint8 : .int16
            try NIfTI.write(labels, to: out, datatype: datatype)
        }
    }

    private func progressHandler() -> ProgressHandler? {
        guard isatty(2) == 1 else { return nil }
        return { (fraction: Double) in
            FileHandle.standardError.write(Data(String(format: "\rsegmenting %3.0f%%", fraction * 100).utf8))
        }
    }
}

/// Options that apply when --model is an nnU-Net v2 results folder.
struct NNUNetOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("nnU-Net folds to ensemble, comma-separated (default: every fold_N present).",
                                            valueName: "0,1,…"))
    var folds: String?

    @Option(name: .long, help: "nnU-Net checkpoint: final (checkpoint_final.pth) or best (checkpoint_best.pth).")
    var checkpoint: String?

    @Option(name: .long, help: "nnU-Net plans configuration (default: the folder name's last part, e.g. 3d_fullres).")
    var configuration: String?

    @Option(name: .long, help: "nnU-Net tile step as a fraction of the patch (default 0.5).")
    var tileStep: Double?

    @Flag(name: .long, help: "nnU-Net test-time mirroring over the axes the trainer allows (default off).")
    var mirror = false

    @Option(name: .long, help: ArgumentHelp("Pipeline around the nnU-Net network: nnunet, or totalsegmentator "
        + "(default for Dataset29x_TotalSegmentator… folders).", valueName: "nnunet|totalsegmentator"))
    var pipeline: String?

    func isTotalSegmentator(_ directory: String) throws -> Bool {
        switch pipeline {
        case nil: return TotalSegmentator.isTotalSegmentatorFolder(directory)
        case "totalsegmentator": return true
        case "nnunet": return false
        case let other?: throw ValidationError("--pipeline must be nnunet or totalsegmentator, not '\(other)'")
        }
    }

    /// TotalSegmentator runs fold 0 with tile step 0.8 unless told otherwise.
    func pipeline(_ directory: String, totalSegmentator: Bool) throws -> NNUNetPipeline {
        var which = NNUNetFolder.Checkpoint.final
        if let checkpoint {
            guard let c = NNUNetFolder.Checkpoint(rawValue: checkpoint) else {
                throw ValidationError("--checkpoint must be final or best, not '\(checkpoint)'")
            }
            which = c
        }
        if let tileStep, !(tileStep > 0 && tileStep <= 1) {
            throw ValidationError("--tile-step must be in (0, 1], not \(tileStep)")
        }
        let foldList = try folds.map { text -> [String] in
            let list = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !list.isEmpty, list.allSatisfy({ Int($0) != nil || $0 == "all" }) else {
                throw ValidationError("--folds must be fold numbers separated by commas, such as 0,1,2")
            }
            return list
        }
        let folder = try NNUNetFolder(path: directory, configuration: configuration)
        return try folder.pipeline(folds: foldList ?? (totalSegmentator ? ["0"] : nil), checkpoint: which,
                                   tileStep: tileStep ?? (totalSegmentator ? TotalSegmentator.tileStep : 0.5),
                                   mirror: mirror)
    }

    /// The nnU-Net options mean nothing for a model.json directory.
    func rejectWithoutNNUNet() throws {
        if folds != nil || checkpoint != nil || configuration != nil || tileStep != nil || mirror || pipeline != nil {
            throw ValidationError("--folds, --checkpoint, --configuration, --tile-step, --mirror and --pipeline need an "
                + "nnU-Net results folder as --model")
        }
    }
}
