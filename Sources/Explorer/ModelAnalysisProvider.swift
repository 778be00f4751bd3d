import Foundation
import Engine

/// The engine behind the explorer: prediction, attribution methods and Agg²Exp aggregation for
/// one preprocessed scan and one explainable model.
///
/// Everything lives on the model grid (the scan reoriented and resampled as the model expects),
/// so CT, prediction, label map and attribution line up voxel for voxel.
public final class ModelAnalysisProvider: AnalysisProvider, @unchecked Sendable {
    public let methods: [String]
    public let classNames: [String]
    public let modelDescription: String
    private let model: any ExplainableModel
    /// The preprocessed input [1, I, J, K] (C order) on `grid`.
    private let input: Tensor
    private let grid: Grid
    private let options: AttributionOptions
    private let rule: TargetRule
    private let lock = NSLock()
    /// The clean prediction in C order, computed once: every method's target mask comes from it.
    private var predictionMask: [Int32]?
    /// Finished maps on disk across runs (nil: no cache).
    private let cache: AttributionCache?
    /// Names the scan and the model in cache keys (e.g. the SHA-256 of their files).
    private let sourceDigest: @Sendable () throws -> String
    /// The key parts naming this scan and model; computed once on `digestQueue`, which starts on
    /// it as soon as the provider exists, so the first look-up rarely waits.
    private var identityResult: Result<[String], any Error>?
    private let digestQueue = DispatchQueue(label: "agg2exp.cache-identity", qos: .userInitiated)
    /// Seconds per forward and gradient pass of this model on this grid, for runtime estimates.
    private let costs: PassCostBook
    /// The clean segmentation (C order) when it is not the argmax of `model.logits`, e.g.
    /// nnU-Net's float16-blended label map, or a multi-part model's merged map in this part's labels.
    private let segmentation: (@Sendable (ProgressHandler?, CancellationToken) throws -> [Int32])?

    /// - Parameters:
    ///   - preprocessed: the model input volume (intensities already windowed).
    ///   - methods: method kinds offered, in the order `m` cycles through them.
    ///   - segmentation: computes the clean segmentation when the model's argmax is not it.
    public init(model: any ExplainableModel, classNames: [String], description: String, preprocessed: Volume,
                methods: [AttributionMethodKind] = AttributionMethodKind.allCases,
                options: AttributionOptions = AttributionOptions(), rule: TargetRule = .sum,
                cache: AttributionCache? = nil, sourceDigest: @escaping @Sendable () throws -> String = { "" },
                segmentation: (@Sendable (ProgressHandler?, CancellationToken) throws -> [Int32])? = nil) {
        self.model = model
        self.segmentation = segmentation
        self.cache = cache
        self.sourceDigest = sourceDigest
        self.classNames = classNames
        modelDescription = description
        input = Tensor(volume: preprocessed)
        grid = preprocessed.grid
        self.methods = methods.map(\.rawValue)
        self.options = options
        self.rule = rule
        costs = PassCostBook(directory: cache?.directory, key: "\(description) grid \(preprocessed.grid.dims)")
        if cache != nil { digestQueue.async { _ = self.identityOnQueue() } }
    }

    public func predict(progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> LabelMap {
        LabelMap(grid: grid, labels: Self.niftiOrder(try mask(progress: progress, cancel: cancel), dims: grid.dims))
    }

    public func storedPrediction() -> LabelMap? {
        guard let m = try? storedMask() else { return nil }
        return LabelMap(grid: grid, labels: Self.niftiOrder(m, dims: grid.dims))
    }

    /// The clean prediction in C order from memory or the disk cache (stored as floats, exact for
    /// labels below 2²⁴); nil when neither has it.
    private func storedMask() throws -> [Int32]? {
        if let m = lock.withLock({ predictionMask }) { return m }
        guard let cache else { return nil }
        let key = AttributionCache.key(["agg2exp prediction v1"] + (try identity()))
        guard case .hit(let entry) = cache.lookup(key, dims: input.shape) else { return nil }
        let m = entry.voxels.map { Int32($0) }
        lock.withLock { predictionMask = m }
        return m
    }

    /// The clean prediction in C order: stored, else computed and stored.
    private func mask(progress: ProgressHandler?, cancel: CancellationToken) throws -> [Int32] {
        if let m = try storedMask() {
            progress?(1)
            return m
        }
        let key = cache == nil ? nil : AttributionCache.key(["agg2exp prediction v1"] + (try identity()))
        let m: [Int32]
        if let segmentation {
            m = try segmentation(progress, cancel)
        } else {
            let started = Date()
            m = TargetFunction.argmax(try model.logits(input, progress: progress, cancel: cancel))
            costs.record(PassCount(forward: 1, gradient: 0), seconds: Date().timeIntervalSince(started))
        }
        lock.withLock { predictionMask = m }
        // A prediction that cannot be cached is only recomputed next time.
        if let cache, let key { try? cache.store(key, dims: input.shape, voxels: m.map { Float($0) }, details: []) }
        return m
    }

    public func attribute(method: String, target: Int,
                          progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> AttributionDisplay {
        try attribute(method: method, target: target, settings: MethodSettings(options: options, rule: rule),
                      recompute: false, progress: progress, cancel: cancel)
    }

    public func estimate(method: String, settings: MethodSettings) -> RuntimeEstimate? {
        guard let kind = AttributionMethodKind(rawValue: method) else { return nil }
        var passes = PassCount.of(kind, options: settings.options, dims: grid.dims)
        // The clean prediction comes first when it is not known yet.
        if lock.withLock({ predictionMask == nil }) { passes.forward += 1 }
        return costs.estimate(passes)
    }

    public func attribute(method: String, target: Int, settings requested: MethodSettings, recompute: Bool,
                          progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> AttributionDisplay {
        guard let kind = AttributionMethodKind(rawValue: method) else {
            throw AttributionError.invalidOption("unknown method '\(method)'")
        }
        let settings = requested.normalised(for: method)
        let (options, rule) = (settings.options, settings.rule)
        let key = cache == nil ? nil : try cacheKey(kind, target: target, settings: settings)
        var notice: String?
        if let cache, let key, !recompute {
            switch cache.lookup(key, dims: grid.dims) {
            case .hit(let entry):
                progress(1)
                return display(entry, method: method, target: target, cache: cache)
            case .corrupt(let problem):
                notice = "A cache entry was unusable (\(problem)); recomputed"
            case .miss:
                break
            }
        }
        let started = Date()
        let hasMask = lock.withLock { predictionMask != nil }
        // Without a cached prediction the first tenth of the bar is the clean forward pass.
        let head: ProgressHandler = { f in progress(0.1 * f) }
        let mask = try self.mask(progress: hasMask ? nil : head, cancel: cancel)
        let tail: ProgressHandler = { f in progress(0.1 + 0.9 * f) }
        let scaled: ProgressHandler = hasMask ? progress : tail
        let target = SegmentTarget(classIndex: target, rule: rule, mask: mask)
        let methodStarted = Date()
        let result = try AttributionMethods.make(kind, options: options)
            .attribute(input, model: model, target: target, progress: scaled, cancel: cancel)
        costs.record(PassCount.of(kind, options: options, dims: grid.dims), seconds: Date().timeIntervalSince(methodStarted))
        let map = result.map.volume(channel: 0, grid: grid)
        var details: [(String, String)] = [("target rule", rule.rawValue)]
        details += optionDetails(kind, options: options)
        if let t = result.targetValue { details.append(("T(x)", String(format: "%.6g", t))) }
        if let d = result.completenessDelta { details.append(("completeness delta", String(format: "%.6g", d))) }
        details.append(("runtime", String(format: "%.2f s", Date().timeIntervalSince(started))))
        if let cache, let key {
            do {
                try cache.store(key, dims: grid.dims, voxels: map.voxels, details: details)
            } catch {
                notice = "Not cached: \(error)"
            }
        }
        return AttributionDisplay(map: map, details: details, notice: notice)
    }

    public func storedAttribution(method: String, target: Int, settings: MethodSettings) -> AttributionDisplay? {
        guard let cache, let kind = AttributionMethodKind(rawValue: method),
              let key = try? cacheKey(kind, target: target, settings: settings.normalised(for: method)),
              case .hit(let entry) = cache.lookup(key, dims: grid.dims) else { return nil }
        return display(entry, method: method, target: target, cache: cache)
    }

    /// A map read from the cache, saying so once in the status line.
    private func display(_ entry: AttributionCache.Entry, method: String, target: Int,
                         cache: AttributionCache) -> AttributionDisplay {
        let name = target < classNames.count ? classNames[target] : "class \(target)"
        return AttributionDisplay(map: Volume(grid: grid, voxels: entry.voxels),
                                  details: entry.details + [("source", "cache \(cache.directory.path)")],
                                  notice: "\(method) → \(name) from the cache (\(cache.directory.path))")
    }

    /// Key parts naming this scan and model: the caller's digest of their files and the model
    /// grid the input lies on.
    private func identity() throws -> [String] { try digestQueue.sync { identityOnQueue() }.get() }

    private func identityOnQueue() -> Result<[String], any Error> {
        if let known = identityResult { return known }
        let affine = (0..<3).flatMap { r in (0..<4).map { c in String(format: "%.6f", grid.affine[r, c]) } }
        let result = Result { ["source " + (try sourceDigest()), "grid \(grid.dims) " + affine.joined(separator: " ")] }
        identityResult = result
        return result
    }

    /// The cache key of (method, target): scan and model, the method with all attribution
    /// options, and the target rule and class.
    /// `settings` are normalised for the method, so options it does not read leave the key alone.
    func cacheKey(_ kind: AttributionMethodKind, target: Int, settings: MethodSettings) throws -> String {
        AttributionCache.key(["agg2exp attribution v1"] + (try identity())
                                    + ["method \(kind.rawValue)", "options \(String(reflecting: settings.options))",
                                       "rule \(settings.rule.rawValue)", "target \(target)"])
    }

    /// The options that `kind` actually uses, for the report's provenance.
    private func optionDetails(_ kind: AttributionMethodKind, options: AttributionOptions) -> [(String, String)] {
        switch kind {
        case .gradient, .inputXGradient:
            return []
        case .integratedGradients:
            return [("steps", "\(options.steps)"), ("baseline", options.baseline.description),
                    ("scheme", options.scheme.rawValue)]
        case .smoothgrad:
            return [("samples", "\(options.sampleCount(for: kind))"), ("noise level", "\(options.noiseLevel)"),
                    ("seed", "\(options.seed)")]
        case .occlusion:
            return [("cube size", "\(options.occlusionSize)"), ("stride", "\(options.occlusionStride)"),
                    ("baseline", options.baseline.description)]
        case .kernelshap:
            return [("samples", "\(options.sampleCount(for: kind))"), ("features", options.features.rawValue),
                    ("seed", "\(options.seed)")]
        }
    }

    public func rank(attribution: Volume, segments: LabelMap, processing: AttributionProcessing,
                     names: [Int32: String]) -> [SegmentScore] {
        (try? Aggregation.scores(attribution: attribution.voxels, segments: segments.labels, processing: processing,
                                 names: { names[$0] ?? "label \($0)" })) ?? []
    }

    /// C order [I, J, K] (K fastest) → NIfTI order (i fastest).
    static func niftiOrder(_ c: [Int32], dims: [Int]) -> [Int32] {
        let (ni, nj, nk) = (dims[0], dims[1], dims[2])
        var out = [Int32](repeating: 0, count: c.count)
        for i in 0..<ni {
            for j in 0..<nj {
                let row = (i * nj + j) * nk
                for k in 0..<nk { out[i + ni * (j + nj * k)] = c[row + k] }
            }
        }
        return out
    }
}
