import Foundation

/// Resampling to a new voxel spacing with MONAI `Spacing` semantics (monai 1.x, `diagonal=False`,
/// `scale_extent=False`, `align_corners=False`, `padding_mode="border"`):
///
/// - The axis directions are kept; each column of the affine gets the new length
///   (`zoom_affine`: rotation = A·U⁻¹ with U the Cholesky factor of AᵀA).
/// - The output shape is `round(extent / new + 1)` per axis, where the extent spans the centres of the
///   first and last input voxels (`compute_shape_offset`): 122 voxels at 3 mm → 243 at 1.5 mm.
/// - The origin is the world position of the input corner voxel that comes first along every
///   output axis, so for an axis-aligned grid voxel (0,0,0) stays where it was.
/// - Each output voxel centre is mapped into input voxel coordinates and sampled there; coordinates
///   past the last voxel centre are clamped to the border (as PyTorch `grid_sample` does with border
///   padding). Intensities use trilinear interpolation, labels the nearest voxel. An exact tie
///   (a centre halfway between two input voxels) goes to the higher index; torch decides ties by
///   float32 rounding noise, so either neighbour is a valid answer there.
public struct SpacingPlan: Sendable {
    public let source: Grid
    public let target: Grid
    /// Maps target voxel indices to source voxel indices.
    let targetToSource: Affine

    /// Precondition: three positive spacings; a value ≤ 0 keeps that axis' current spacing (MONAI).
    public init(from source: Grid, toSpacing spacing: [Double]) {
        precondition(spacing.count == 3, "three spacings")
        let current = source.spacing
        let newSpacing = (0..<3).map { spacing[$0] > 0 ? spacing[$0] : current[$0] }
        let a = Matrix3(source.affine)
        // Cholesky of G = AᵀA: G = UᵀU, U upper triangular with positive diagonal.
        let g = a.transposed * a
        var u = Matrix3([Double](repeating: 0, count: 9))
        for i in 0..<3 {
            for j in i..<3 {
                var s = g[i, j]
                for k in 0..<i { s -= u[k, i] * u[k, j] }
                if i == j { u[i, i] = max(s, 0).squareRoot() } else { u[i, j] = u[i, i] > 0 ? s / u[i, i] : 0 }
            }
        }
        let rotation = a * (u.inverse ?? Matrix3([1, 0, 0, 0, 1, 0, 0, 0, 1]))
        var linear = Affine.identity
        for r in 0..<3 { for c in 0..<3 { linear[r, c] = rotation[r, c] * newSpacing[c] } }

        // Input corners in output voxel coordinates (translation cancels in the difference).
        let toOut = linear.inverse!.multiplied(by: source.affine)
        let d = source.dims
        var corners: [SIMD3<Double>] = []
        for k in [0, d[2] - 1] { for j in [0, d[1] - 1] { for i in [0, d[0] - 1] {
            corners.append(SIMD3(Double(i), Double(j), Double(k)))
        } } }
        let mapped = corners.map { toOut.apply($0) }
        var lo = mapped[0], hi = mapped[0]
        for p in mapped { lo = pointwiseMin(lo, p); hi = pointwiseMax(hi, p) }
        // Clamped before the conversion so absurd extents cannot trap; callers that allocate
        // check the shape against the budget first (`GeometryDomain.resampledGrid`).
        let shape = (0..<3).map { n -> Int in
            let extent = (hi[n] - lo[n] + 1).rounded(.toNearestOrEven)
            return extent.isFinite ? Int(min(max(extent, 1), Double(Int32.max))) : Int(Int32.max)
        }
        let tol = 1e-6 * max(1, (0..<3).map { hi[$0] - lo[$0] }.max()!)
        let origin = zip(corners, mapped).first { (_, p) in (0..<3).allSatisfy { abs(p[$0] - lo[$0]) <= tol } }
            .map { source.affine.apply($0.0) } ?? source.affine.apply(corners[0])
        for r in 0..<3 { linear[r, 3] = origin[r] }

        self.source = source
        self.target = Grid(dims: shape, affine: linear)
        self.targetToSource = source.affine.inverse!.multiplied(by: linear)
    }

    /// Trilinear interpolation with border clamping.
    public func apply(_ data: [Float]) -> [Float] {
        precondition(data.count == source.voxelCount, "data must match the source grid")
        let sd = source.dims
        let nx = sd[0], nxy = sd[0] * sd[1]
        let hi = (Double(sd[0] - 1), Double(sd[1] - 1), Double(sd[2] - 1))
        return data.withUnsafeBufferPointer { src in
            fill(Float.self) { out, k in
                self.forEachVoxel(inSlice: k) { o, x, y, z in
                    let cx = min(max(x, 0), hi.0), cy = min(max(y, 0), hi.1), cz = min(max(z, 0), hi.2)
                    // Clamped coordinates are ≥ 0, so truncation is floor (and avoids a libm call).
                    let i0 = Int(cx), j0 = Int(cy), k0 = Int(cz)
                    let tx = Float(cx - Double(i0)), ty = Float(cy - Double(j0)), tz = Float(cz - Double(k0))
                    let di = i0 < sd[0] - 1 ? 1 : 0, dj = j0 < sd[1] - 1 ? nx : 0, dk = k0 < sd[2] - 1 ? nxy : 0
                    let b = i0 + nx * j0 + nxy * k0
                    let c00 = src[b] + (src[b + di] - src[b]) * tx
                    let c10 = src[b + dj] + (src[b + dj + di] - src[b + dj]) * tx
                    let c01 = src[b + dk] + (src[b + dk + di] - src[b + dk]) * tx
                    let c11 = src[b + dk + dj] + (src[b + dk + dj + di] - src[b + dk + dj]) * tx
                    let c0 = c00 + (c10 - c00) * ty
                    let c1 = c01 + (c11 - c01) * ty
                    out[o] = c0 + (c1 - c0) * tz
                }
            }
        }
    }

    /// Nearest-neighbour sampling with border clamping.
    public func apply(_ data: [Int32]) -> [Int32] {
        precondition(data.count == source.voxelCount, "data must match the source grid")
        let sd = source.dims
        let hi = (Double(sd[0] - 1), Double(sd[1] - 1), Double(sd[2] - 1))
        return data.withUnsafeBufferPointer { src in
            fill(Int32.self) { out, k in
                self.forEachVoxel(inSlice: k) { o, x, y, z in
                    // Clamped coordinates are ≥ 0: truncating c + 0.5 rounds to nearest.
                    let i = Int(min(max(x, 0), hi.0) + 0.5)
                    let j = Int(min(max(y, 0), hi.1) + 0.5)
                    let kk = Int(min(max(z, 0), hi.2) + 0.5)
                    out[o] = src[i + sd[0] * (j + sd[1] * kk)]
                }
            }
        }
    }

    /// Allocates the output and fills it one k-slice per task (slices are independent).
    private func fill<T>(_: T.Type, _ slice: (UnsafeMutableBufferPointer<T>, Int) -> Void) -> [T] {
        [T](unsafeUninitializedCapacity: target.voxelCount) { out, count in
            for k in 0..<target.dims[2] { slice(out, k) }
            count = target.voxelCount
        }
    }

    /// Calls `body(outputIndex, x, y, z)` with the source voxel coordinates of every voxel in slice k.
    @inline(__always)
    private func forEachVoxel(inSlice k: Int, _ body: (Int, Double, Double, Double) -> Void) {
        let d = target.dims
        let m = targetToSource
        for j in 0..<d[1] {
            var x = m[0, 3] + Double(j) * m[0, 1] + Double(k) * m[0, 2]
            var y = m[1, 3] + Double(j) * m[1, 1] + Double(k) * m[1, 2]
            var z = m[2, 3] + Double(j) * m[2, 1] + Double(k) * m[2, 2]
            let (sx, sy, sz) = (m[0, 0], m[1, 0], m[2, 0])
            var o = d[0] * (j + d[1] * k)
            for _ in 0..<d[0] {
                body(o, x, y, z)
                x += sx
                y += sy
                z += sz
                o += 1
            }
        }
    }
}

extension Volume {
    /// Trilinear resampling to `spacing` mm (see `SpacingPlan` for the exact convention).
    public func resampled(toSpacing spacing: [Double]) -> Volume {
        let plan = SpacingPlan(from: grid, toSpacing: spacing)
        return Volume(grid: plan.target, voxels: plan.apply(voxels))
    }

    /// MONAI `ScaleIntensityRange`: maps aMin…aMax linearly to bMin…bMax, optionally clipping to
    /// bMin…bMax. When aMin == aMax it only shifts (x − aMin + bMin), as MONAI does.
    public func windowed(aMin: Float, aMax: Float, bMin: Float, bMax: Float, clip: Bool) -> Volume {
        var out = self
        if aMax == aMin {
            for n in out.voxels.indices { out.voxels[n] = out.voxels[n] - aMin + bMin }
        } else {
            let aRange = aMax - aMin, bRange = bMax - bMin
            let lo = min(bMin, bMax), hi = max(bMin, bMax)
            for n in out.voxels.indices {
                // Same operation order as MONAI so float results agree bit for bit.
                let v = (out.voxels[n] - aMin) / aRange * bRange + bMin
                out.voxels[n] = clip ? Swift.min(Swift.max(v, lo), hi) : v
            }
        }
        return out
    }
}

extension LabelMap {
    /// Nearest-neighbour resampling to `spacing` mm on the same grid `Volume.resampled` produces.
    public func resampled(toSpacing spacing: [Double]) -> LabelMap {
        let plan = SpacingPlan(from: grid, toSpacing: spacing)
        return LabelMap(grid: plan.target, labels: plan.apply(labels))
    }
}
