import Foundation

/// nnU-Net v2's inference pipeline (`nnUNetPredictor.predict_from_files`, nnunetv2 2.8.1, CPU):
///
/// 1. the NIfTI voxel array read as (z, y, x), then permuted by `transpose_forward`;
/// 2. cropped to the bounding box of the non-zero voxels after hole filling;
/// 3. normalised (`CTNormalization` with the plans' foreground statistics, or `ZScoreNormalization`);
/// 4. resampled to the configuration spacing when the shape changes (`NNUNetResampling` with
///    `resampling_fn_data_kwargs`: skimage order 3, or separate z for anisotropic spacings);
/// 5. zero-padded, centred, to at least the patch size;
/// 6. tiled with nnU-Net's step rule (positions rounded half to even) and blended with Gaussian
///    importance weights (σ = patch/8, peak 10) in float16, as nnU-Net accumulates them;
/// 7. the float16 logits resampled back to the cropped shape (`resampling_fn_probabilities_kwargs`,
///    order 1) if step 4 resampled, argmax, pasted into the uncropped volume, permuted back
///    (`convert_predicted_logits_to_segmentation_with_correct_shape`).
public struct NNUNetPipeline: Sendable {
    public let folder: NNUNetFolder
    public let network: any SegmentationNetwork
    /// Fraction of the patch between tile starts (nnU-Net's `tile_step_size`).
    public var tileStep: Double
    /// Test-time mirroring over the axes the trainer allows (nnU-Net's `use_mirroring`).
    public var mirrorAxes: [Int]
    /// The checkpoint files the network was loaded from, one per fold (empty when it was built
    /// otherwise).
    public var weightFiles: [String] = []

    public init(folder: NNUNetFolder, network: any SegmentationNetwork, tileStep: Double = 0.5, mirrorAxes: [Int] = []) {
        (self.folder, self.network, self.tileStep, self.mirrorAxes) = (folder, network, tileStep, mirrorAxes)
    }

    /// The label map on the scan's own grid. Throws a `ModelError` for scans the pipeline cannot take.
    public func segment(_ scan: Volume, scanPath: String, progress: ProgressHandler? = nil,
                        cancel: CancellationToken? = nil) throws -> LabelMap {
        let input = try prepare(scan, scanPath: scanPath)
        let logits = try networkLogits(input, progress: progress, cancel: cancel)
        return input.labelMapOnScan(sourceLabels(input, logits: logits))
    }

    /// Steps 1–4: the scan as the network sees it, before padding.
    public func prepare(_ scan: Volume, scanPath: String) throws -> NNUNetInput {
        let dims = scan.grid.dims
        // The NIfTI buffer (i fastest) is the C-order (z, y, x) array nnU-Net reads.
        let zyx = [dims[2], dims[1], dims[0]]
        let spacingZYX = Array(scan.grid.spacing.reversed())
        let p = folder.transposeForward
        let shape = p.map { zyx[$0] }
        let spacing = p.map { spacingZYX[$0] }
        var image = Self.permute(scan.voxels, shape: zyx, order: p)

        let box = Self.nonzeroBox(image, shape: shape)
        image = Self.crop(image, shape: shape, box: box)
        let cropped = box.map { $0.upperBound - $0.lowerBound }

        try normalize(&image, path: scanPath)
        let target = NNUNetResampling.newShape(cropped, from: spacing, to: folder.spacing)
        var resampled: NNUNetInput.Resampled?
        if target != cropped {
            guard target.allSatisfy({ $0 > 0 }) else {
                throw ModelError(path: scanPath, problem: "the cropped scan \(cropped) at spacing \(spacing) becomes "
                    + "\(target) at the plans' spacing \(folder.spacing); nnU-Net cannot resample it")
            }
            let kwargs = try folder.resampling.get()
            image = kwargs.data.resample(image, channels: 1, shape: cropped, to: target, current: spacing,
                                         new: folder.spacing)
            resampled = NNUNetInput.Resampled(probabilities: kwargs.probabilities, croppedShape: cropped,
                                              croppedSpacing: spacing, networkSpacing: folder.spacing)
        }
        return NNUNetInput(tensor: Tensor(shape: [1] + target, data: image), source: scan.grid,
                           transposeForward: p, transposeBackward: folder.transposeBackward, box: box,
                           resampled: resampled)
    }

    /// nnU-Net's blended logits [K, network grid] in float16, as nnU-Net accumulates them.
    public func networkLogits(_ input: NNUNetInput, progress: ProgressHandler? = nil,
                              cancel: CancellationToken? = nil) throws -> [Float16] {
        try slidingWindow(input.tensor.data, shape: input.shape, progress: progress, cancel: cancel)
    }

    /// The argmax of nnU-Net's blended logits, in the network grid's C order.
    public func networkLabels(_ input: NNUNetInput, progress: ProgressHandler? = nil,
                              cancel: CancellationToken? = nil) throws -> [Int32] {
        networkLabels(try networkLogits(input, progress: progress, cancel: cancel), count: input.tensor.count)
    }

    /// The argmax of blended logits [K, count voxels] (the first class wins ties, as in NumPy).
    public func networkLabels(_ logits: [Float16], count: Int) -> [Int32] {
        Self.argmax(logits, classes: folder.classes.count, count: count)
    }

    /// nnU-Net's label map on `input.source` (NIfTI order): the float16 logits resampled back to
    /// the cropped shape when the input was resampled (kept in float16, as nnU-Net resamples its
    /// float16 logits into an array of their dtype), argmax, pasted into the uncropped volume
    /// (0 outside the crop) and permuted back.
    public func sourceLabels(_ input: NNUNetInput, logits: [Float16]) -> [Int32] {
        let classes = folder.classes.count
        guard let r = input.resampled else {
            return input.toSource(networkLabels(logits, count: input.tensor.count), fill: 0)
        }
        let back = r.probabilities.resample(logits, channels: classes, shape: input.shape, to: r.croppedShape,
                                            current: r.networkSpacing, new: r.croppedSpacing)
        return input.toSource(Self.argmax(back, classes: classes, count: r.croppedShape.reduce(1, *)), fill: 0)
    }

    // MARK: Steps

    func normalize(_ image: inout [Float], path: String) throws {
        guard let scheme = folder.normalizationSchemes.first else { return }
        switch scheme {
        case "CTNormalization":
            let props = folder.intensityProperties
            guard let mean = props["mean"], let std = props["std"], let lo = props["percentile_00_5"],
                  let hi = props["percentile_99_5"] else {
                throw ModelError(path: folder.path + "/" + NNUNetFolder.plansFile, problem: "CTNormalization needs "
                    + "foreground_intensity_properties_per_channel[\"0\"] mean, std, percentile_00_5 and percentile_99_5")
            }
            let (m, s, l, h) = (Float(mean), Float(max(std, 1e-8)), Float(lo), Float(hi))
            for i in image.indices { image[i] = (min(max(image[i], l), h) - m) / s }
        case "ZScoreNormalization":
            let n = Double(image.count)
            let mean = image.reduce(0.0) { $0 + Double($1) } / n
            let variance = image.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
            let (m, s) = (Float(mean), Float(max(variance.squareRoot(), 1e-8)))
            for i in image.indices { image[i] = (image[i] - m) / s }
        case "NoNormalization":
            break
        default:
            throw ModelError(path: folder.path + "/" + NNUNetFolder.plansFile,
                             problem: "normalization scheme '\(scheme)' is not supported "
                                + "(supported: CTNormalization, ZScoreNormalization, NoNormalization)")
        }
    }

    /// Blended logits [K, shape] (float16 values, as nnU-Net keeps them), unpadded.
    func slidingWindow(_ image: [Float], shape: [Int], progress: ProgressHandler?,
                       cancel: CancellationToken?) throws -> [Float16] {
        let patch = folder.patchSize
        let padded = zip(shape, patch).map { max($0, $1) }
        let below = zip(padded, shape).map { ($0 - $1) / 2 }
        let classes = folder.classes.count
        let plane = padded.reduce(1, *)
        var input = [Float](repeating: 0, count: plane)
        for a in 0..<shape[0] {
            for b in 0..<shape[1] {
                let src = (a * shape[1] + b) * shape[2]
                let dst = ((a + below[0]) * padded[1] + b + below[1]) * padded[2] + below[2]
                for c in 0..<shape[2] { input[dst + c] = image[src + c] }
            }
        }
        let gaussian = Self.gaussian(patch)
        var sum = [Float16](repeating: 0, count: classes * plane)
        var count = [Float16](repeating: 0, count: plane)
        let starts = (0..<3).map { Self.tileStarts(size: padded[$0], patch: patch[$0], step: tileStep) }
        let tiles = starts[0].flatMap { a in starts[1].flatMap { b in starts[2].map { c in [a, b, c] } } }
        let patchPlane = patch.reduce(1, *)
        for (n, start) in tiles.enumerated() {
            try cancel?.check()
            var tile = [Float](repeating: 0, count: patchPlane)
            for a in 0..<patch[0] {
                for b in 0..<patch[1] {
                    let src = ((a + start[0]) * padded[1] + b + start[1]) * padded[2] + start[2]
                    let dst = (a * patch[1] + b) * patch[2]
                    for c in 0..<patch[2] { tile[dst + c] = input[src + c] }
                }
            }
            let logits = predict(Tensor(shape: [1] + patch, data: tile)).data
            for a in 0..<patch[0] {
                for b in 0..<patch[1] {
                    let dst = ((a + start[0]) * padded[1] + b + start[1]) * padded[2] + start[2]
                    let src = (a * patch[1] + b) * patch[2]
                    for c in 0..<patch[2] {
                        let g = gaussian[src + c]
                        for k in 0..<classes {
                            let i = k * plane + dst + c
                            sum[i] = Float16(Float(sum[i]) + logits[k * patchPlane + src + c] * Float(g))
                        }
                        count[dst + c] = Float16(Float(count[dst + c]) + Float(g))
                    }
                }
            }
            progress?(Double(n + 1) / Double(tiles.count))
        }
        // Divide and drop the padding.
        let n = shape.reduce(1, *)
        var out = [Float16](repeating: 0, count: classes * n)
        for k in 0..<classes {
            for a in 0..<shape[0] {
                for b in 0..<shape[1] {
                    let src = ((a + below[0]) * padded[1] + b + below[1]) * padded[2] + below[2]
                    let dst = k * n + (a * shape[1] + b) * shape[2]
                    for c in 0..<shape[2] {
                        out[dst + c] = Float16(Float(sum[k * plane + src + c]) / Float(count[src + c]))
                    }
                }
            }
        }
        return out
    }

    /// One tile's logits, averaged over the mirrored passes when mirroring is on
    /// (`_internal_maybe_mirror_and_predict`: the plain pass, then each combination flipped in
    /// and back, summed in that order and divided by the number of passes).
    func predict(_ tile: Tensor) -> Tensor {
        var total = network.forward(tile)
        guard !mirrorAxes.isEmpty else { return total }
        let combinations = Self.mirrorCombinations(mirrorAxes)
        for axes in combinations {
            let y = Self.flip(network.forward(Self.flip(tile, axes: axes)), axes: axes)
            for i in total.data.indices { total.data[i] += y.data[i] }
        }
        let passes = Float(combinations.count + 1)
        for i in total.data.indices { total.data[i] /= passes }
        return total
    }

    /// The non-empty combinations of `axes` in `itertools.combinations` order (by size, then
    /// lexicographic), as nnU-Net enumerates its mirrored passes.
    static func mirrorCombinations(_ axes: [Int]) -> [[Int]] {
        func choose(_ k: Int, from start: Int) -> [[Int]] {
            guard k > 0 else { return [[]] }
            return (start..<axes.count).flatMap { i in choose(k - 1, from: i + 1).map { [axes[i]] + $0 } }
        }
        return axes.indices.flatMap { choose($0 + 1, from: 0) }
    }

    // MARK: nnU-Net's rules

    /// Tile starts along one axis: n = ⌈(size − patch)/(patch·step)⌉ + 1, start i =
    /// round_half_even(i·(size − patch)/(n − 1)) (`compute_steps_for_sliding_window`).
    public static func tileStarts(size: Int, patch: Int, step: Double) -> [Int] {
        let target = Double(patch) * step
        let n = Int((Double(size - patch) / target).rounded(.up)) + 1
        guard n > 1 else { return [0] }
        let actual = Double(size - patch) / Double(n - 1)
        return (0..<n).map { Int((actual * Double($0)).rounded(.toNearestOrEven)) }
    }

    /// `compute_gaussian(patch, sigma_scale=1/8, value_scaling_factor=10)` in float16 with zeros
    /// replaced by the smallest non-zero value.
    public static func gaussian(_ patch: [Int]) -> [Float16] {
        let axes = patch.map { p -> [Double] in
            let sigma = Double(p) / 8, centre = Double(p / 2)
            return (0..<p).map { exp(-(Double($0) - centre) * (Double($0) - centre) / (2 * sigma * sigma)) }
        }
        var g = [Float16](repeating: 0, count: patch.reduce(1, *))
        for a in 0..<patch[0] {
            for b in 0..<patch[1] {
                for c in 0..<patch[2] {
                    g[(a * patch[1] + b) * patch[2] + c] = Float16(10 * axes[0][a] * axes[1][b] * axes[2][c])
                }
            }
        }
        if let smallest = g.filter({ $0 > 0 }).min() {
            for i in g.indices where g[i] == 0 { g[i] = smallest }
        }
        return g
    }

    /// Half-open bounding box of the non-zero voxels after filling holes (`crop_to_nonzero`):
    /// zero voxels not connected (6-neighbourhood) to the border count as inside.
    static func nonzeroBox(_ image: [Float], shape: [Int]) -> [Range<Int>] {
        let (n0, n1, n2) = (shape[0], shape[1], shape[2])
        var outside = [Bool](repeating: false, count: image.count)
        var queue: [Int] = []
        func visit(_ i: Int) {
            if image[i] == 0 && !outside[i] { outside[i] = true; queue.append(i) }
        }
        for a in 0..<n0 { for b in 0..<n1 { for c in 0..<n2 where a == 0 || b == 0 || c == 0 || a == n0 - 1 || b == n1 - 1 || c == n2 - 1 {
            visit((a * n1 + b) * n2 + c)
        }}}
        var head = 0
        while head < queue.count {
            let i = queue[head]
            head += 1
            let c = i % n2, b = (i / n2) % n1, a = i / (n1 * n2)
            if a > 0 { visit(i - n1 * n2) }
            if a < n0 - 1 { visit(i + n1 * n2) }
            if b > 0 { visit(i - n2) }
            if b < n1 - 1 { visit(i + n2) }
            if c > 0 { visit(i - 1) }
            if c < n2 - 1 { visit(i + 1) }
        }
        var lo = [n0, n1, n2], hi = [0, 0, 0]
        for a in 0..<n0 { for b in 0..<n1 { for c in 0..<n2 where !outside[(a * n1 + b) * n2 + c] {
            lo = [min(lo[0], a), min(lo[1], b), min(lo[2], c)]
            hi = [max(hi[0], a + 1), max(hi[1], b + 1), max(hi[2], c + 1)]
        }}}
        guard hi[0] > lo[0] else { return shape.map { 0..<$0 } }
        return (0..<3).map { lo[$0]..<hi[$0] }
    }

    static func crop<T>(_ image: [T], shape: [Int], box: [Range<Int>]) -> [T] {
        var out: [T] = []
        out.reserveCapacity(box.reduce(1) { $0 * $1.count })
        for a in box[0] { for b in box[1] {
            let row = (a * shape[1] + b) * shape[2]
            out.append(contentsOf: image[(row + box[2].lowerBound)..<(row + box[2].upperBound)])
        }}
        return out
    }

    /// `array.transpose(order)` of a C-order 3-D array of `shape`.
    static func permute<T>(_ values: [T], shape: [Int], order: [Int]) -> [T] {
        guard order != [0, 1, 2] else { return values }
        let out = order.map { shape[$0] }
        let strides = [shape[1] * shape[2], shape[2], 1]
        let s = order.map { strides[$0] }
        var result: [T] = []
        result.reserveCapacity(values.count)
        for a in 0..<out[0] { for b in 0..<out[1] { for c in 0..<out[2] {
            result.append(values[a * s[0] + b * s[1] + c * s[2]])
        }}}
        return result
    }

    static func argmax(_ logits: [Float16], classes: Int, count: Int) -> [Int32] {
        (0..<count).map { v in
            var best = 0
            for k in 1..<classes where logits[k * count + v] > logits[best * count + v] { best = k }
            return Int32(best)
        }
    }

    /// Reverses `axes` (0-based spatial axes) of a [C, D, H, W] tensor.
    static func flip(_ x: Tensor, axes: [Int]) -> Tensor {
        let (c, d, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var y = x
        for ch in 0..<c { for a in 0..<d { for b in 0..<h { for e in 0..<w {
            let sa = axes.contains(0) ? d - 1 - a : a, sb = axes.contains(1) ? h - 1 - b : b, se = axes.contains(2) ? w - 1 - e : e
            y.data[((ch * d + a) * h + b) * w + e] = x.data[((ch * d + sa) * h + sb) * w + se]
        }}}}
        return y
    }
}
