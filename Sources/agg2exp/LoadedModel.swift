import ArgumentParser
import Engine
import Foundation

/// The model behind --model: a model.json directory (MONAI preprocessing, model grid) or an
/// nnU-Net v2 results folder (nnU-Net's or TotalSegmentator's pipeline, network grid).
enum LoadedModel {
    case monai(SegmentationModel)
    case nnunet(NNUNetModel, totalSegmentator: Bool)

    /// Loads `directory` with the nnU-Net and window-target options; `--window-target` defaults
    /// to per-window for model.json directories and stitched for nnU-Net folders.
    static func load(_ directory: String, nnunet: NNUNetOptions, windowTarget: String?) throws -> LoadedModel {
        let target: WindowTarget? = try windowTarget.map { try choice($0, "--window-target") }
        if NNUNetFolder.isFolder(directory) {
            let totalSegmentator = try nnunet.isTotalSegmentator(directory)
            let pipeline = try nnunet.pipeline(directory, totalSegmentator: totalSegmentator)
            return .nnunet(NNUNetModel(pipeline: pipeline, windowTarget: target ?? .stitched),
                           totalSegmentator: totalSegmentator)
        }
        try nnunet.rejectWithoutNNUNet()
        var model = try SegmentationModel.load(directory: directory)
        model.windowTarget = target ?? .perWindow
        return .monai(model)
    }

    var classes: [String] {
        switch self {
        case .monai(let m): return m.classes
        case .nnunet(let m, _): return m.classes
        }
    }

    var explainable: any ExplainableModel {
        switch self {
        case .monai(let m): return m
        case .nnunet(let m, _): return m
        }
    }

    var isNNUNet: Bool {
        if case .nnunet = self { return true }
        return false
    }

    /// The memory and time check before a scan is read in full.
    func preflight(scan: String, resources: ResourceOptions,
                   extend: (inout JobEstimate, _ modelVoxels: Int, _ windows: Int) -> Void = { _, _, _ in }) throws {
        switch self {
        case .monai(let m):
            try Preflight.check(scan: scan, model: m, resources: resources, extend: extend)
        case .nnunet(let m, let totalSegmentator):
            try Preflight.check(scan: scan, nnunet: m, totalSegmentator: totalSegmentator, resources: resources,
                                extend: extend)
        }
    }
}

/// Which grid an nnU-Net model's output is written on.
enum OutputGrid: String, CaseIterable {
    /// The scan's own grid, as nnU-Net writes its label maps.
    case scan
    /// The network grid (permuted, cropped; resampled in TotalSegmentator mode).
    case model

    /// Parses --grid: `scan` is the default for nnU-Net folders; a model.json directory has only
    /// its model grid.
    static func parse(_ text: String?, nnunet: Bool) throws -> OutputGrid {
        guard let text else { return nnunet ? .scan : .model }
        let grid: OutputGrid = try choice(text, "--grid")
        if grid == .scan && !nnunet {
            throw ValidationError("--grid scan needs an nnU-Net results folder as --model (a model.json model "
                + "writes its outputs on its model grid)")
        }
        return grid
    }
}

extension Preflight {
    /// The nnU-Net counterpart of `check(scan:model:…)`: the network grid is the scan's (or, in
    /// TotalSegmentator mode, the scan zoomed to the plans' spacing), before cropping.
    static func check(scan: String, nnunet model: NNUNetModel, totalSegmentator: Bool, resources: ResourceOptions,
                      extend: (inout JobEstimate, _ modelVoxels: Int, _ windows: Int) -> Void) throws {
        let header = try NIfTI.readHeader(scan)
        let folder = model.pipeline.folder
        var dims = header.grid.dims
        if totalSegmentator {
            let zyx = (0..<3).map { axis in folder.spacing[folder.transposeForward.firstIndex(of: axis)!] }
            let target = Array(zyx.reversed())
            dims = (0..<3).map { Int((Double(dims[$0]) * header.grid.spacing[$0] / target[$0]).rounded()) }
        }
        let shape = folder.transposeForward.map { [dims[2], dims[1], dims[0]][$0] }
        let windows = model.tiling(shape).starts.count
        let voxels = shape.reduce(1, *)
        let roiVoxels = folder.patchSize.reduce(1, *)
        var estimate = JobEstimate()
        estimate.addPrediction(scanVoxels: header.grid.voxelCount, modelVoxels: voxels, classes: model.classCount,
                               roiVoxels: roiVoxels, windows: windows)
        extend(&estimate, voxels, windows)
        let budget = try resources.budget()
        do {
            try estimate.check(budget: budget, roiVoxels: roiVoxels, confirmed: resources.yes)
        } catch {
            throw DataError("\(scan): \(error.message)")
        }
    }
}
