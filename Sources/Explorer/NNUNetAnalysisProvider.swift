import Engine
import Foundation

/// The explorer's engine for an nnU-Net results folder, or the parts of a multi-part model
/// (TotalSegmentator's `total`), as `explain` runs them.
///
/// Everything lives on the network grid: the scan permuted by `transpose_forward`, cropped to its
/// non-zero box and resampled to the plans' spacing (in TotalSegmentator mode zoomed to RAS at the
/// plans' spacing first). The segments are nnU-Net's own label map there (float16 blending),
/// merged over the parts as TotalSegmentator merges them. A target is explained through the part
/// that predicts it, on that part's normalised input, over the merged map seen in the part's
/// labels; background goes through the first part.
public final class NNUNetAnalysisProvider: AnalysisProvider, @unchecked Sendable {
    public let methods: [String]
    public let classNames: [String]
    public let modelDescription: String
    /// The network grid the prediction and every map lie on.
    public let grid: Grid
    private let parts: NNUNetParts
    /// One provider per part: its model, its input and its view of the merged map.
    private let providers: [ModelAnalysisProvider]

    /// - Parameters:
    ///   - inputs: each part's network input of the same scan (one network grid).
    ///   - scanDigest: names the scan in cache keys (e.g. the SHA-256 of its file); the keys also
    ///     name every part's files and pipeline settings (`NNUNetModel.contentDigest`), the
    ///     pipeline (nnU-Net's or TotalSegmentator's) and the part.
    public init(parts: NNUNetParts, inputs: [NNUNetInput], description: String, cache: AttributionCache? = nil,
                scanDigest: @escaping @Sendable () throws -> String = { "" }) {
        precondition(inputs.count == parts.parts.count, "one input per part")
        let grid = inputs[0].grid
        let merged = MergedSegmentation(parts: parts, inputs: inputs)
        let pipeline = inputs[0].scan == nil ? "nnunet" : "totalsegmentator"
        let models = parts.parts
        let identity: @Sendable () throws -> String = {
            try ([scanDigest(), "pipeline \(pipeline)"] + models.map { try $0.contentDigest() }).joined(separator: " ")
        }
        providers = parts.parts.indices.map { p in
            ModelAnalysisProvider(
                model: parts.parts[p], classNames: parts.parts[p].classes,
                description: description + (parts.parts.count > 1 ? " part \(p + 1)" : ""),
                preprocessed: inputs[p].tensor.volume(channel: 0, grid: grid), cache: cache,
                sourceDigest: { try identity() + " part \(p) of \(models.count)" },
                segmentation: { progress, cancel in
                    parts.labels(try merged.labels(progress: progress, cancel: cancel), inPart: p)
                })
        }
        self.parts = parts
        self.grid = grid
        methods = providers[0].methods
        classNames = parts.classes
        modelDescription = description
    }

    /// The merged label map: each part's view of it (its own classes, the rest background) put
    /// back into the merged labels. A part's view comes from the disk cache when it is there.
    public func predict(progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> LabelMap {
        var labels = [Int32](repeating: 0, count: grid.voxelCount)
        for (p, provider) in providers.enumerated() {
            let count = Double(providers.count)
            let view = try provider.predict(progress: { progress((Double(p) + $0) / count) }, cancel: cancel)
            let row = parts.table[p]
            for v in labels.indices where view.labels[v] != 0 { labels[v] = row[Int(view.labels[v])] }
        }
        return LabelMap(grid: grid, labels: labels)
    }

    /// The part and its label for merged class `target` (background: the first part's 0).
    private func route(_ target: Int) -> (provider: ModelAnalysisProvider, label: Int) {
        let (p, label) = parts.part(predicting: target) ?? (part: 0, label: 0)
        return (providers[p], label)
    }

    public func attribute(method: String, target: Int,
                          progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> AttributionDisplay {
        let (provider, label) = route(target)
        return try provider.attribute(method: method, target: label, progress: progress, cancel: cancel)
    }

    public func attribute(method: String, target: Int, settings: MethodSettings, recompute: Bool,
                          progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> AttributionDisplay {
        let (provider, label) = route(target)
        return try provider.attribute(method: method, target: label, settings: settings, recompute: recompute,
                                      progress: progress, cancel: cancel)
    }

    /// The parts share one network grid and their networks are alike in cost; the first part's
    /// measured passes stand for all.
    public func estimate(method: String, settings: MethodSettings) -> RuntimeEstimate? {
        providers[0].estimate(method: method, settings: settings)
    }

    public func rank(attribution: Volume, segments: LabelMap, processing: AttributionProcessing,
                     names: [Int32: String]) -> [SegmentScore] {
        providers[0].rank(attribution: attribution, segments: segments, processing: processing, names: names)
    }

    public func storedAttribution(method: String, target: Int, settings: MethodSettings) -> AttributionDisplay? {
        let (provider, label) = route(target)
        return provider.storedAttribution(method: method, target: label, settings: settings)
    }
}

/// nnU-Net's label maps of every part (float16 blending, network grid, C order), merged; computed
/// once, on first use.
private final class MergedSegmentation: @unchecked Sendable {
    private let parts: NNUNetParts
    private let inputs: [NNUNetInput]
    private let lock = NSLock()
    private var merged: [Int32]?

    init(parts: NNUNetParts, inputs: [NNUNetInput]) {
        (self.parts, self.inputs) = (parts, inputs)
    }

    func labels(progress: ProgressHandler?, cancel: CancellationToken) throws -> [Int32] {
        try lock.withLock {
            if let merged { return merged }
            let count = Double(inputs.count)
            var labels: [[Int32]] = []
            for (p, (part, input)) in zip(parts.parts, inputs).enumerated() {
                let scaled: ProgressHandler? = progress.map { h in { @Sendable f in h((Double(p) + f) / count) } }
                labels.append(try part.pipeline.networkLabels(input, progress: scaled, cancel: cancel))
            }
            let result = parts.merge(labels)
            merged = result
            return result
        }
    }
}
