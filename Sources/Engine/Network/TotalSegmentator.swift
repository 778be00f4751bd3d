import Foundation

/// TotalSegmentator 2.18's steps around nnU-Net (`totalsegmentator.nnunet.nnUNet_predict_image`):
/// the scan goes to RAS (`as_closest_canonical`), is resampled with `scipy.ndimage.zoom(order=1,
/// mode="nearest")` to the task spacing and truncated to int32, then nnU-Net predicts with tile
/// step 0.8, no mirroring, fold 0; the label map is resampled back with order 0 to the canonical
/// shape and returned to the scan's orientation.
public enum TotalSegmentator {
    /// The tile step TotalSegmentator passes for its `total` tasks.
    public static let tileStep = 0.8

    /// True for a `Dataset29x_TotalSegmentator…` results folder (or one inside it).
    public static func isTotalSegmentatorFolder(_ path: String) -> Bool {
        URL(fileURLWithPath: path).standardizedFileURL.pathComponents.contains { component in
            component.range(of: #"^Dataset\d+_TotalSegmentator"#, options: .regularExpression) != nil
        }
    }

    /// The resampled, int32-truncated scan nnU-Net sees: RAS, `spacing` mm (`truncating` false
    /// keeps the fractions, for maps moved the same way).
    public static func preprocess(_ scan: Volume, spacing: [Double], truncating: Bool = true) -> Volume {
        let canonical = scan.reoriented(to: "RAS")
        let zoom = zip(canonical.grid.spacing, spacing).map { $0 / $1 }
        return resample(canonical, zoom: zoom, order: 1, truncating: truncating)
    }

    /// The label map of `labels` (on the preprocessed grid) on the grid of `scan`.
    public static func restore(_ labels: LabelMap, to scan: Volume) -> LabelMap {
        let back = restore(Volume(grid: labels.grid, voxels: labels.labels.map(Float.init)), to: scan.grid)
        return LabelMap(grid: scan.grid, labels: back.voxels.map { Int32($0) })
    }

    /// Values on the preprocessed grid zoomed back with order 0 to the canonical shape of
    /// `scan` and returned to its orientation, as TotalSegmentator restores its labels.
    static func restore(_ values: Volume, to scan: Grid) -> Volume {
        let canonical = Reorientation(from: scan, to: "RAS").grid
        let zoom = zip(canonical.dims, values.grid.dims).map { Double($0) / Double($1) }
        let back = resample(values, zoom: zoom, order: 0, shape: canonical.dims)
        let code = Orientation.code(for: scan.affine)
        return Volume(grid: scan, voxels: Volume(grid: canonical, voxels: back.voxels).reoriented(to: code).voxels)
    }

    /// `scipy.ndimage.zoom(data, zoom, order, mode="nearest")` (grid_mode False: the corner
    /// voxels map onto each other) with TotalSegmentator's affine update (each column / zoom).
    /// Order 1 is trilinear, order 0 nearest (⌊x + ½⌋). `truncating` applies `astype(int32)` to
    /// the float64 result, before it is stored as Float32.
    static func resample(_ volume: Volume, zoom: [Double], order: Int, shape: [Int]? = nil,
                         truncating: Bool = false) -> Volume {
        let inDims = volume.grid.dims
        let outDims = shape ?? zip(inDims, zoom).map { Int((Double($0) * $1).rounded(.toNearestOrEven)) }
        let scale = zip(inDims, outDims).map { $1 > 1 ? Double($0 - 1) / Double($1 - 1) : 0 }
        var affine = volume.grid.affine
        for c in 0..<3 { for r in 0..<3 { affine.m[r * 4 + c] /= zoom[c] } }
        let (ni, nj) = (inDims[0], inDims[1])
        let src = volume.voxels
        var out = [Float](repeating: 0, count: outDims.reduce(1, *))
        /// Index pairs and the first index's weight along one axis.
        func taps(_ axis: Int) -> [(Int, Int, Double)] {
            (0..<outDims[axis]).map { o in
                let x = Double(o) * scale[axis]
                if order == 0 {
                    let i = min(max(Int((x + 0.5).rounded(.down)), 0), inDims[axis] - 1)
                    return (i, i, 0)
                }
                let i0 = min(max(Int(x.rounded(.down)), 0), inDims[axis] - 1)
                let i1 = min(i0 + 1, inDims[axis] - 1)
                // scipy's weights: w0 = 1 − t and w1 = 1 − w0 (not t), which rounds differently.
                return (i0, i1, 1 - (x - x.rounded(.down)))
            }
        }
        let (ti, tj, tk) = (taps(0), taps(1), taps(2))
        out.withUnsafeMutableBufferPointer { dst in
            let d = SharedPointer(dst.baseAddress!)
            src.withUnsafeBufferPointer { s in
                let sp = SharedPointer(UnsafeMutablePointer(mutating: s.baseAddress!))
                Parallel.forEach(outDims[2]) { k in
                    let (k0, k1, wk) = tk[k]
                    for j in 0..<outDims[1] {
                        let (j0, j1, wj) = tj[j]
                        for i in 0..<outDims[0] {
                            let (i0, i1, wi) = ti[i]
                            func v(_ a: Int, _ b: Int, _ c: Int) -> Double { Double(sp[a + ni * (b + nj * c)]) }
                            var value = 0.0
                            if order == 0 {
                                value = v(i0, j0, k0)
                            } else {
                                // scipy's sum: corners in C order of the (i, j, k) array, each
                                // ((value · w_i) · w_j) · w_k, so that rounding matches before truncation.
                                for (a, xa) in [(i0, wi), (i1, 1 - wi)] {
                                    for (b, xb) in [(j0, wj), (j1, 1 - wj)] {
                                        for (c, xc) in [(k0, wk), (k1, 1 - wk)] { value += v(a, b, c) * xa * xb * xc }
                                    }
                                }
                            }
                            d[i + outDims[0] * (j + outDims[1] * k)] = Float(truncating ? value.rounded(.towardZero) : value)
                        }
                    }
                }
            }
        }
        return Volume(grid: Grid(dims: outDims, affine: affine), voxels: out)
    }
}

extension NNUNetPipeline {
    /// TotalSegmentator's prediction: its resampling around nnU-Net's pipeline (whose own
    /// resampling is then a no-op). The label map is on the scan's grid.
    public func segmentAsTotalSegmentator(_ scan: Volume, scanPath: String, progress: ProgressHandler? = nil,
                                          cancel: CancellationToken? = nil) throws -> LabelMap {
        let input = try prepareAsTotalSegmentator(scan, scanPath: scanPath)
        return input.labelMapOnScan(sourceLabels(input, logits: try networkLogits(input, progress: progress, cancel: cancel)))
    }

    /// The network input TotalSegmentator builds: RAS, zoomed to the plans' spacing, int32, then
    /// nnU-Net's own steps.
    public func prepareAsTotalSegmentator(_ scan: Volume, scanPath: String) throws -> NNUNetInput {
        // The plans' spacing is in nnU-Net axis order; TotalSegmentator's is in NIfTI (i, j, k) order.
        var input = try prepare(TotalSegmentator.preprocess(scan, spacing: niftiSpacing), scanPath: scanPath)
        input.scan = scan.grid
        return input
    }
}
