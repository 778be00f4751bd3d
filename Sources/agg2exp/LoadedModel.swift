import ArgumentParser
import Engine
import Foundation

/// The model behind --model: a model.json directory (MONAI preprocessing, model grid) or an
/// nnU-Net v2 results folder (nnU-Net's or TotalSegmentator's pipeline, network grid).
enum LoadedModel {
    case monai(SegmentationModel)
    /// One nnU-Net folder, or the parts of a multi-part model (TotalSegmentator's `total`).
    case nnunet(NNUNetParts, totalSegmentator: Bool)

    /// Loads `directories` (one model.json directory, or one or more nnU-Net folders) with the
    /// nnU-Net and window-target options; `--window-target` defaults to per-window for model.json
    /// directories and stitched for nnU-Net folders.
    static func load(_ directories: [String], nnunet: NNUNetOptions, windowTarget: String?) throws -> LoadedModel {
        let target: WindowTarget? = try windowTarget.map { try choice($0, "--window-target") }
        if directories.contains(where: NNUNetFolder.isFolder) {
            if let other = directories.first(where: { !NNUNetFolder.isFolder($0) }) {
                throw ValidationError("several --model folders must all be nnU-Net results folders (plans.json + "
                    + "dataset.json); \(other) is not")
            }
            let totalSegmentator = try nnunet.isTotalSegmentator(directories[0])
            let parts = try directories.map { directory in
                NNUNetModel(pipeline: try nnunet.pipeline(directory, totalSegmentator: totalSegmentator),
                            windowTarget: target ?? .stitched)
            }
            return .nnunet(try NNUNetParts(parts: parts), totalSegmentator: totalSegmentator)
        }
        guard directories.count == 1 else {
            throw ValidationError("only nnU-Net results folders can be given as several --model parts")
        }
        try nnunet.rejectWithoutNNUNet()
        var model = try SegmentationModel.load(directory: directories[0])
        model.windowTarget = target ?? .perWindow
        return .monai(model)
    }

    var classes: [String] {
        switch self {
        case .monai(let m): return m.classes
        case .nnunet(let parts, _): return parts.classes
        }
    }

    var isNNUNet: Bool {
        if case .nnunet = self { return true }
        return false
    }

    /// Explains `targets` of a prepared scan. nnU-Net targets go through the part that predicts
    /// them, over the merged label map seen in that part's labels (background through the first
    /// part); the aggregation always runs over `rois`.
    func explain(_ prepared: PreparedScan, method: any AttributionMethod, options: AttributionOptions,
                 targets: [Int], rule: TargetRule, processing: AttributionProcessing, rois: RoISet,
                 progress: @escaping (String) -> ProgressHandler?) throws -> [Explanation] {
        let classes = self.classes
        switch self {
        case .monai(let m):
            return try Explainer.explain(
                method: method, options: options, model: m, input: prepared.input, prediction: prepared.labels,
                classes: targets.map { ($0, classes[$0]) }, rule: rule, processing: processing, rois: rois,
                progress: progress, cancel: nil)
        case .nnunet(let parts, _):
            guard case .nnunet(let inputs) = prepared.mapping else { preconditionFailure("scan prepared for another model") }
            var byTarget: [Int: Explanation] = [:]
            let located = targets.map { t in (t, parts.part(predicting: t) ?? (part: 0, label: 0)) }
            for p in parts.parts.indices {
                let mine = located.filter { $0.1.part == p }
                guard !mine.isEmpty else { continue }
                let explained = try Explainer.explain(
                    method: method, options: options, model: parts.parts[p], input: inputs[p].tensor,
                    prediction: parts.labels(prepared.labels, inPart: p),
                    classes: mine.map { ($0.1.label, classes[$0.0]) }, rule: rule, processing: processing,
                    rois: rois, progress: progress, cancel: nil)
                for ((t, _), var e) in zip(mine, explained) {
                    e.classIndex = t
                    byTarget[t] = e
                }
            }
            return targets.map { byTarget[$0]! }
        }
    }

    /// The memory and time check before a scan is read in full.
    func preflight(scan: String, resources: ResourceOptions,
                   extend: (inout JobEstimate, _ modelVoxels: Int, _ windows: Int) -> Void = { _, _, _ in }) throws {
        switch self {
        case .monai(let m):
            try Preflight.check(scan: scan, model: m, resources: resources, extend: extend)
        case .nnunet(let parts, _):
            try Preflight.check(scan: scan, nnunet: parts.parts[0], resources: resources, extend: extend)
        }
    }
}

/// Which grid an nnU-Net model's output is written on.
enum OutputGrid: String, CaseIterable {
    /// The scan's own grid, as nnU-Net writes its label maps.
    case scan
    /// The network grid (permuted, cropped and resampled to the plans' spacing).
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
    /// The nnU-Net counterpart of `check(scan:model:…)`: the network grid is the scan at the
    /// plans' spacing, before cropping.
    static func check(scan: String, nnunet model: NNUNetModel, resources: ResourceOptions,
                      extend: (inout JobEstimate, _ modelVoxels: Int, _ windows: Int) -> Void) throws {
        let header = try NIfTI.readHeader(scan)
        let folder = model.pipeline.folder
        // Both pipelines bring the scan to the plans' spacing (TotalSegmentator's zoom, or
        // nnU-Net's own resampling), so the network grid is the scan's extent at that spacing.
        let zyx = (0..<3).map { axis in folder.spacing[folder.transposeForward.firstIndex(of: axis)!] }
        let target = Array(zyx.reversed())
        let dims = (0..<3).map { max(1, Int((Double(header.grid.dims[$0]) * header.grid.spacing[$0] / target[$0]).rounded())) }
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
