import Foundation

/// A scan as nnU-Net's network sees it before padding: the (z, y, x) array of the NIfTI voxels,
/// permuted by `transpose_forward`, cropped to the non-zero box, normalised and resampled to the
/// plans' spacing — the network grid.
///
/// It carries what maps values between the network grid and the grid it was cut from (`source`):
/// the permutation, the crop box and the resampling. In TotalSegmentator mode `source` is the
/// resampled RAS grid and `scan` the original scan's grid, reached by TotalSegmentator's order-0
/// zoom back.
public struct NNUNetInput: Sendable {
    /// [1, S0, S1, S2], normalised intensities in the network grid.
    public var tensor: Tensor
    /// The grid the network grid was cut from (the scan, or TotalSegmentator's resampled scan).
    public let source: Grid
    /// The original scan's grid when `source` is TotalSegmentator's resampled one.
    public var scan: Grid?
    let transposeForward: [Int]
    let transposeBackward: [Int]
    /// Crop box in the permuted, uncropped array.
    let box: [Range<Int>]
    /// How the cropped array was resampled to the plans' spacing; nil when its shape was kept.
    public let resampled: Resampled?

    /// The cropped array's shape and spacing, the network grid's spacing (nnU-Net axis order) and
    /// how values go back (`resampling_fn_probabilities_kwargs`).
    public struct Resampled: Sendable {
        public let probabilities: NNUNetResampling
        public let croppedShape: [Int]
        public let croppedSpacing: [Double]
        public let networkSpacing: [Double]
    }

    init(tensor: Tensor, source: Grid, transposeForward: [Int], transposeBackward: [Int], box: [Range<Int>],
         resampled: Resampled? = nil) {
        (self.tensor, self.source, self.transposeForward, self.transposeBackward, self.box, self.resampled)
            = (tensor, source, transposeForward, transposeBackward, box, resampled)
    }

    /// Spatial shape of the network grid.
    public var shape: [Int] { Array(tensor.shape[1...]) }

    /// Shape after cropping, before resampling.
    var croppedShape: [Int] { resampled?.croppedShape ?? shape }

    /// The permuted, uncropped array's shape.
    var permutedShape: [Int] {
        let zyx = [source.dims[2], source.dims[1], source.dims[0]]
        return transposeForward.map { zyx[$0] }
    }

    /// The network grid in world space. Network axis a is (z, y, x) axis p[a], that is NIfTI
    /// axis 2 − p[a] of `source`. Resampling stretches each axis by s = cropped/network size,
    /// with voxel o at cropped index (o + ½)·s − ½ (skimage's grid mode); without it the first
    /// voxel is the crop box's corner. In TotalSegmentator mode `source` sits where
    /// `scipy.ndimage.zoom` samples the RAS scan (see `sourceAffine`).
    public var grid: Grid {
        let nifti = transposeForward.map { 2 - $0 }
        let scale = (0..<3).map { Double(croppedShape[$0]) / Double(shape[$0]) }
        var corner = [0.0, 0.0, 0.0]
        for a in 0..<3 { corner[nifti[a]] = Double(box[a].lowerBound) + 0.5 * scale[a] - 0.5 }
        let affine = sourceAffine
        let origin = affine.apply(SIMD3(corner[0], corner[1], corner[2]))
        var m = [Double](repeating: 0, count: 16)
        for r in 0..<3 {
            for a in 0..<3 { m[r * 4 + a] = affine[r, nifti[a]] * scale[a] }
            m[r * 4 + 3] = origin[r]
        }
        m[15] = 1
        return Grid(dims: shape, affine: Affine(rowMajor: m))
    }

    /// Where `source`'s voxels lie in world space. For the scan itself, its affine. For
    /// TotalSegmentator's resampled grid, not the affine TotalSegmentator gives it (each column
    /// divided by the zoom, which only sets the spacing nnU-Net reads): `scipy.ndimage.zoom`
    /// (grid_mode False) takes output voxel o from RAS index o·(n − 1)/(m − 1), n and m the sizes
    /// before and after, so each RAS column is scaled by that ratio from the same origin.
    public var sourceAffine: Affine {
        guard let scan else { return source.affine }
        let canonical = Reorientation(from: scan, to: "RAS").grid
        var affine = canonical.affine
        for c in 0..<3 {
            // A single output voxel along an axis samples RAS index 0; its column keeps the spacing.
            for r in 0..<3 {
                affine[r, c] = source.dims[c] > 1
                    ? canonical.affine[r, c] * Double(canonical.dims[c] - 1) / Double(source.dims[c] - 1)
                    : source.affine[r, c]
            }
        }
        return affine
    }

    /// A single-channel network-grid map on the cropped grid: resampled back as nnU-Net resamples
    /// its logits (`resampling_fn_probabilities_kwargs`, order 1), or unchanged.
    public func toCropped(_ values: [Float]) -> [Float] {
        guard let r = resampled else { return values }
        return r.probabilities.resample(values, channels: 1, shape: shape, to: r.croppedShape,
                                        current: r.networkSpacing, new: r.croppedSpacing)
    }

    /// Labels from the cropped grid to the network grid by nearest neighbour (skimage order 0,
    /// no separate z).
    private func nearest(_ labels: [Int32], from: [Int], to: [Int]) -> [Int32] {
        guard from != to else { return labels }
        let moved = NNUNetResampling(order: 0, orderZ: 0, forceSeparateZ: false)
            .resample(labels.map(Float.init), channels: 1, shape: from, to: to, current: [1, 1, 1], new: [1, 1, 1])
        return moved.map { Int32($0) }
    }

    /// Cropped-grid values (C order) on `source` (NIfTI order), `fill` outside the crop box.
    public func toSource<T>(_ values: [T], fill: T) -> [T] {
        let full = permutedShape, cropped = croppedShape
        precondition(values.count == cropped.reduce(1, *), "values and cropped grid disagree")
        var out = [T](repeating: fill, count: full.reduce(1, *))
        for a in 0..<cropped[0] {
            for b in 0..<cropped[1] {
                let src = (a * cropped[1] + b) * cropped[2]
                let dst = ((a + box[0].lowerBound) * full[1] + b + box[1].lowerBound) * full[2] + box[2].lowerBound
                for c in 0..<cropped[2] { out[dst + c] = values[src + c] }
            }
        }
        return NNUNetPipeline.permute(out, shape: full, order: transposeBackward)
    }

    /// `source` values (NIfTI order) on the cropped grid (C order).
    public func fromSource<T>(_ values: [T]) -> [T] {
        let zyx = [source.dims[2], source.dims[1], source.dims[0]]
        let permuted = NNUNetPipeline.permute(values, shape: zyx, order: transposeForward)
        return NNUNetPipeline.crop(permuted, shape: permutedShape, box: box)
    }

    /// A network-grid map on the scan's own grid: resampled back to the cropped grid (order 1, as
    /// nnU-Net brings back its logits), pasted into `source` (0 outside the crop), then, in
    /// TotalSegmentator mode, zoomed back with order 0 as TotalSegmentator zooms its labels.
    public func onScanGrid(_ values: [Float]) -> Volume {
        let onSource = Volume(grid: source, voxels: toSource(toCropped(values), fill: 0))
        guard let scan else { return onSource }
        return TotalSegmentator.restore(onSource, to: scan)
    }

    /// Labels on `source` (NIfTI order) as a label map on the scan's own grid: in
    /// TotalSegmentator mode zoomed back with order 0.
    public func labelMapOnScan(_ labels: [Int32]) -> LabelMap {
        let onSource = Volume(grid: source, voxels: labels.map(Float.init))
        let volume = scan.map { TotalSegmentator.restore(onSource, to: $0) } ?? onSource
        return LabelMap(grid: volume.grid, labels: volume.voxels.map { Int32($0) })
    }

    /// A label map on the scan's grid brought into the network grid (C order): in
    /// TotalSegmentator mode first to RAS and zoomed with order 0 onto the resampled grid; where
    /// nnU-Net resampled, by nearest neighbour.
    public func fromScanGrid(_ map: LabelMap) -> [Int32] {
        var labels = map.labels
        if scan != nil {
            let canonical = map.reoriented(to: "RAS")
            let zoom = zip(source.dims, canonical.grid.dims).map { Double($0) / Double($1) }
            labels = TotalSegmentator.resample(Volume(grid: canonical.grid, voxels: canonical.labels.map(Float.init)),
                                               zoom: zoom, order: 0, shape: source.dims).voxels.map { Int32($0) }
        }
        return nearest(fromSource(labels), from: croppedShape, to: shape)
    }
}
