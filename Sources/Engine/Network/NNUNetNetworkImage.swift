import Foundation

extension NNUNetPipeline {
    /// The plans' spacing in NIfTI (i, j, k) order, the spacing TotalSegmentator zooms to.
    public var niftiSpacing: [Double] {
        let zyx = (0..<3).map { axis in folder.spacing[folder.transposeForward.firstIndex(of: axis)!] }
        return Array(zyx.reversed())
    }

    /// The scan's own intensities (HU for a CT, not normalised) on the network grid of `input`,
    /// for display beside attributions: TotalSegmentator's zoom and int32 truncation when `input`
    /// came from `prepareAsTotalSegmentator`, then the permutation, the crop and the resampling
    /// (`resampling_fn_data_kwargs`) the network input went through.
    public func networkImage(_ scan: Volume, input: NNUNetInput) throws -> Volume {
        try onNetworkGrid(scan, input: input, truncating: true)
    }

    /// A map on the scan's own grid (an attribution map made elsewhere) moved onto the network
    /// grid of `input` as the scan was moved, without the int32 truncation, which would erase
    /// values below 1.
    public func networkMap(_ map: Volume, input: NNUNetInput) throws -> Volume {
        try onNetworkGrid(map, input: input, truncating: false)
    }

    private func onNetworkGrid(_ volume: Volume, input: NNUNetInput, truncating: Bool) throws -> Volume {
        let source = input.scan == nil ? volume
            : TotalSegmentator.preprocess(volume, spacing: niftiSpacing, truncating: truncating)
        var values = input.fromSource(source.voxels)
        if let r = input.resampled {
            values = try folder.resampling.get().data.resample(values, channels: 1, shape: r.croppedShape,
                                                                to: input.shape, current: r.croppedSpacing,
                                                                new: r.networkSpacing)
        }
        return Tensor(shape: [1] + input.shape, data: values).volume(channel: 0, grid: input.grid)
    }
}

extension NNUNetModel {
    /// Names everything of this model that shapes its outputs, for cache keys: the SHA-256 of
    /// plans.json, dataset.json and the checkpoint files loaded (folds and final/best, by name and
    /// bytes), the configuration, the tile step, the mirroring axes and the window target.
    public func contentDigest() throws -> String {
        let folder = pipeline.folder
        var hasher = SHA256()
        for file in [NNUNetFolder.plansFile, NNUNetFolder.datasetFile] {
            hasher.update(Data(file.utf8))
            try hasher.update(fileAt: (folder.path as NSString).appendingPathComponent(file))
        }
        for file in pipeline.weightFiles {
            hasher.update(Data(URL(fileURLWithPath: file).pathComponents.suffix(2).joined(separator: "/").utf8))
            try hasher.update(fileAt: file)
        }
        let settings = "configuration \(folder.configurationName) tile-step \(pipeline.tileStep) "
            + "mirror \(pipeline.mirrorAxes) window-target \(windowTarget.rawValue)"
        hasher.update(Data(settings.utf8))
        return hasher.finalizeHex()
    }
}
