import ArgumentParser
import Engine
import Explorer
import Foundation

extension ScanOptions {
    /// `--model` (once per part) and the nnU-Net and window-target options as given, for the
    /// explorer's reproducing `explain` command line.
    var modelArguments: [String] {
        var words = model.flatMap { ["--model", $0] }
        let options: [(String, String?)] = [
            ("--folds", nnunet.folds), ("--checkpoint", nnunet.checkpoint), ("--configuration", nnunet.configuration),
            ("--tile-step", nnunet.tileStep.map { "\($0)" }), ("--pipeline", nnunet.pipeline),
            ("--window-target", windowTarget.windowTarget),
        ]
        for case (let flag, let value?) in options { words += [flag, value] }
        if nnunet.mirror { words.append("--mirror") }
        return words
    }

    /// The explorer on an nnU-Net folder, or on the parts of a multi-part model, as `explain`
    /// runs them. Everything lies on nnU-Net's network grid: the scan permuted by
    /// `transpose_forward`, cropped to its non-zero box and resampled to the plans' spacing (in
    /// TotalSegmentator mode first reoriented to RAS and zoomed). The CT is shown with the
    /// intensities the network saw before normalisation (HU), resampled as the network input
    /// was; the grid's affine puts each voxel where that sampling took it from
    /// (`NNUNetInput.grid`), so the probe's ijk, mm and RAS are the network grid's. A `--labels`
    /// map on the scan's grid reaches the network grid as `explain --roi` does (nearest neighbour).
    func loadNNUNet(_ parts: NNUNetParts, totalSegmentator: Bool, scanPath: String, scan: Volume) throws -> Loaded {
        try Preflight.check(scan: scanPath, nnunet: parts.parts[0], resources: try ResourceOptions.parse([]),
                            extend: { _, _, _ in })
        let inputs = try parts.parts.map { part in
            totalSegmentator ? try part.pipeline.prepareAsTotalSegmentator(scan, scanPath: scanPath)
                : try part.pipeline.prepare(scan, scanPath: scanPath)
        }
        let ct = try parts.parts[0].pipeline.networkImage(scan, input: inputs[0])
        let cache: AttributionCache?
        do {
            cache = try AttributionCache.standard(environment: ProcessInfo.processInfo.environment, megabytes: cacheMB)
        } catch {
            throw ValidationError(error.message)
        }
        let classNames = parts.classes
        let folders = model.count == 1 ? model[0] : "\(model[0]) and \(model.count - 1) more part(s)"
        let provider = NNUNetAnalysisProvider(
            parts: parts, inputs: inputs, description: "\(folders) (\(classNames.count) classes, nnU-Net network grid)",
            cache: cache, scanDigest: {
                var hasher = SHA256()
                try hasher.update(fileAt: scanPath)
                return hasher.finalizeHex()
            })

        var map: LabelMap?
        if let labels {
            let drawn = try NIfTI.readLabelMap(labels)
            try drawn.ensureOnGrid(of: scan.grid, labelPath: labels, scanPath: scanPath)
            let onNetwork = inputs[0].fromScanGrid(drawn)
            let volume = Tensor(shape: [1] + inputs[0].shape, data: onNetwork.map(Float.init)).volume(channel: 0, grid: ct.grid)
            map = LabelMap(grid: ct.grid, labels: volume.voxels.map { Int32($0) })
        }
        var names: [Int32: String] = [0: "background"]
        var colors: [Int32: RGB] = [:]
        if map == nil {
            // The prediction is shown: its labels are the merged classes.
            for (i, name) in classNames.enumerated() { names[Int32(i)] = name }
        }
        if let labelNames {
            let table = try LabelTable.load(labelNames)
            names.merge(table.names) { _, new in new }
            colors = table.colors
        }
        let scene = Scene(scanPath: scanPath, ct: ct, labels: map, labelSource: labels.map { "file \($0)" } ?? "",
                          labelNames: names, labelColors: colors)
        let pipeline = parts.parts[0].pipeline
        let input = inputs[0]
        let grids = AttributionImport.Grids(model: ct.grid, scan: scan.grid) { try pipeline.networkMap($0, input: input) }
        return Loaded(scene: scene, provider: provider, scanGrid: scan.grid, preprocessing: nil,
                      importGrids: grids)
    }
}
