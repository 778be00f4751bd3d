import Foundation

/// A segmentation model loaded from a model directory (model.json + model.safetensors), with
/// MONAI preprocessing and sliding-window inference, explainable through input gradients.
///
/// Inputs of `logits` and `targetGradient` are preprocessed tensors [1, I, J, K] in the model
/// grid (`Tensor(volume:)` of `preprocess(scan)`).
public struct SegmentationModel: ExplainableModel {
    public let directory: String
    public let definition: ModelDescription
    public let network: any SegmentationNetwork
    /// What `targetGradient` differentiates; the official per-window target by default.
    public var windowTarget = WindowTarget.perWindow

    public var classes: [String] { definition.classes }
    public var classCount: Int { definition.classes.count }
    public var preprocessing: PreprocessingConfig { definition.preprocessing }
    public var roiSize: [Int] { definition.roiSize }
    public var overlap: Double { definition.overlap }

    /// Loads and validates a model directory. Errors name the file at fault.
    public static func load(directory: String) throws -> SegmentationModel {
        let (definition, network) = try ModelDirectory.load(directory: directory)
        return SegmentationModel(directory: directory, definition: definition, network: network)
    }

    /// SHA-256 over model.json and the weight file, streamed: names the model in cache keys, so
    /// retrained weights or a changed configuration never reuse old attribution maps.
    public func contentDigest() throws -> String {
        var hasher = SHA256()
        for name in [ModelDirectory.descriptionFile, definition.weightsFile] {
            hasher.update(Data(name.utf8))
            try hasher.update(fileAt: (directory as NSString).appendingPathComponent(name))
        }
        return hasher.finalizeHex()
    }

    /// The scan in the model grid: reoriented to the model orientation, intensities windowed
    /// (MONAI ScaleIntensityRange), then resampled to the model spacing unless every axis is
    /// already within 1e-3 mm of it. The order is the MONAI pipeline's (Orientation,
    /// ScaleIntensityRange, Spacing).
    public func preprocess(_ scan: Volume) -> Volume {
        let w = preprocessing.intensity
        let oriented = scan.reoriented(to: preprocessing.orientation)
            .windowed(aMin: Float(w.aMin), aMax: Float(w.aMax), bMin: Float(w.bMin), bMax: Float(w.bMax), clip: w.clip)
        let matches = zip(oriented.grid.spacing, preprocessing.spacing).allSatisfy { abs($0 - $1) <= 1e-3 }
        return matches ? oriented : oriented.resampled(toSpacing: preprocessing.spacing)
    }

    /// Window placement for an input of `size` voxels.
    public func plan(imageSize size: [Int]) -> SlidingWindowPlan {
        SlidingWindowPlan(imageSize: size, roiSize: roiSize, overlap: overlap)
    }

    /// Stitched logits [K, I, J, K'] and the argmax label map on the preprocessed volume's grid.
    public func predict(_ preprocessed: Volume, progress: ProgressHandler? = nil,
                        cancel: CancellationToken? = nil) throws -> (logits: Tensor, labels: LabelMap) {
        let logits = try self.logits(Tensor(volume: preprocessed), progress: progress, cancel: cancel)
        return (logits, Self.labels(logits, grid: preprocessed.grid))
    }

    public func logits(_ input: Tensor, progress: ProgressHandler?, cancel: CancellationToken?) throws -> Tensor {
        try checkInput(input)
        return try SlidingWindow.logits(network: network, input: input, classCount: classCount,
                                 plan: plan(imageSize: Array(input.shape[1...])), progress: progress, cancel: cancel)
    }

    public func targetGradient(_ input: Tensor, target: SegmentTarget, progress: ProgressHandler?,
                               cancel: CancellationToken?) throws -> Tensor {
        try checkInput(input)
        precondition((0..<classCount).contains(target.classIndex), "target class out of range")
        precondition(target.mask == nil || target.mask!.count == input.count / input.shape[0], "mask size")
        let plan = plan(imageSize: Array(input.shape[1...]))
        switch windowTarget {
        case .perWindow:
            return try SlidingWindow.targetGradient(network: network, input: input, target: target, plan: plan,
                                                    progress: progress, cancel: cancel)
        case .stitched:
            var stitched: Tensor?
            func logits() throws -> Tensor {
                if let stitched { return stitched }
                let z = try self.logits(input, progress: nil, cancel: cancel)
                stitched = z
                return z
            }
            let mask = try target.mask ?? TargetFunction.argmax(try logits())
            let weights = try StitchedTarget.weights(mask: mask, classIndex: target.classIndex, rule: target.rule,
                                                     logits: logits)
            return try SlidingWindow.stitchedTargetGradient(network: network, input: input,
                                                            classIndex: target.classIndex, classCount: classCount,
                                                            weights: weights, plan: plan, progress: progress,
                                                            cancel: cancel)
        }
    }

    private func checkInput(_ input: Tensor) throws {
        let expected = definition.architecture.inputChannels
        guard input.shape.count == 4, input.shape[0] == expected else {
            throw ModelError(path: directory, problem: "the model expects input [\(expected), I, J, K], got \(input.shape)")
        }
    }

    /// Argmax over classes (first maximum wins, as torch.argmax), in NIfTI voxel order on `grid`.
    public static func labels(_ logits: Tensor, grid: Grid) -> LabelMap {
        let classes = logits.shape[0]
        let (ni, nj, nk) = (logits.shape[1], logits.shape[2], logits.shape[3])
        let plane = ni * nj * nk
        var labels = [Int32](repeating: 0, count: plane)
        logits.data.withUnsafeBufferPointer { z in
            for i in 0..<ni {
                for j in 0..<nj {
                    for k in 0..<nk {
                        let v = (i * nj + j) * nk + k
                        var best = 0
                        for c in 1..<classes where z[c * plane + v] > z[best * plane + v] { best = c }
                        labels[i + ni * (j + nj * k)] = Int32(best)
                    }
                }
            }
        }
        return LabelMap(grid: grid, labels: labels)
    }
}
