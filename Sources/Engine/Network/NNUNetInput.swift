import Foundation

/// A scan as nnU-Net's network sees it before padding: the (z, y, x) array of the NIfTI voxels,
/// permuted by `transpose_forward`, cropped to the non-zero box and normalised — the network grid.
///
/// It carries what maps values between the network grid and the grid it was cut from (`source`):
/// the permutation and the crop box. In TotalSegmentator mode `source` is the resampled RAS grid
/// and `scan` the original scan's grid, reached by TotalSegmentator's order-0 zoom back.
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

    init(tensor: Tensor, source: Grid, transposeForward: [Int], transposeBackward: [Int], box: [Range<Int>]) {
        (self.tensor, self.source, self.transposeForward, self.transposeBackward, self.box)
            = (tensor, source, transposeForward, transposeBackward, box)
    }

    /// Spatial shape of the network grid.
    public var shape: [Int] { Array(tensor.shape[1...]) }

    /// The permuted, uncropped array's shape.
    var permutedShape: [Int] {
        let zyx = [source.dims[2], source.dims[1], source.dims[0]]
        return transposeForward.map { zyx[$0] }
    }

    /// The network grid in world space. Network axis a is (z, y, x) axis p[a], that is NIfTI
    /// axis 2 − p[a] of `source`; its first voxel is the crop box's corner.
    public var grid: Grid {
        let nifti = transposeForward.map { 2 - $0 }
        var corner = [0.0, 0.0, 0.0]
        for a in 0..<3 { corner[nifti[a]] = Double(box[a].lowerBound) }
        let origin = source.affine.apply(SIMD3(corner[0], corner[1], corner[2]))
        var m = [Double](repeating: 0, count: 16)
        for r in 0..<3 {
            for a in 0..<3 { m[r * 4 + a] = source.affine[r, nifti[a]] }
            m[r * 4 + 3] = origin[r]
        }
        m[15] = 1
        return Grid(dims: shape, affine: Affine(rowMajor: m))
    }

    /// Network-grid values (C order) on `source` (NIfTI order), `fill` outside the crop box.
    public func toSource<T>(_ values: [T], fill: T) -> [T] {
        precondition(values.count == tensor.count, "values and network grid disagree")
        let full = permutedShape, cropped = shape
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

    /// `source` values (NIfTI order) in the network grid (C order).
    public func fromSource<T>(_ values: [T]) -> [T] {
        let zyx = [source.dims[2], source.dims[1], source.dims[0]]
        let permuted = NNUNetPipeline.permute(values, shape: zyx, order: transposeForward)
        return NNUNetPipeline.crop(permuted, shape: permutedShape, box: box)
    }

    /// A network-grid map on the scan's own grid: pasted into `source` (0 outside the crop), then,
    /// in TotalSegmentator mode, zoomed back with order 0 as TotalSegmentator zooms its labels.
    public func onScanGrid(_ values: [Float]) -> Volume {
        let onSource = Volume(grid: source, voxels: toSource(values, fill: 0))
        guard let scan else { return onSource }
        return TotalSegmentator.restore(onSource, to: scan)
    }

    /// Labels on the network grid as a label map on the scan's own grid.
    public func onScanGrid(_ labels: [Int32]) -> LabelMap {
        let volume = onScanGrid(labels.map(Float.init))
        return LabelMap(grid: volume.grid, labels: volume.voxels.map { Int32($0) })
    }

    /// A label map on the scan's grid brought into the network grid (C order): in
    /// TotalSegmentator mode first to RAS and zoomed with order 0 onto the resampled grid.
    public func fromScanGrid(_ map: LabelMap) -> [Int32] {
        var labels = map.labels
        if scan != nil {
            let canonical = map.reoriented(to: "RAS")
            let zoom = zip(source.dims, canonical.grid.dims).map { Double($0) / Double($1) }
            labels = TotalSegmentator.resample(Volume(grid: canonical.grid, voxels: canonical.labels.map(Float.init)),
                                               zoom: zoom, order: 0, shape: source.dims).voxels.map { Int32($0) }
        }
        return fromSource(labels)
    }
}
