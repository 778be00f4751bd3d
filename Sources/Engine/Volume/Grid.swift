import Foundation

/// A 4×4 voxel→world transform in RAS millimetres, stored row-major.
///
/// World coordinates follow the NIfTI RAS+ convention: +x towards the patient's Right, +y Anterior,
/// +z Superior. Orientation codes name the direction each voxel axis points to (nibabel's
/// convention: "RAS" means i grows towards Right, j towards Anterior, k towards Superior).
public struct Affine: Equatable, Sendable, CustomStringConvertible {
    /// Row-major 4×4 entries.
    public var m: [Double]

    public init(rowMajor m: [Double]) {
        precondition(m.count == 16, "an affine has 16 entries")
        self.m = m
    }

    public static let identity = Affine(rowMajor: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])

    /// Diagonal scaling with an offset: the affine of an axis-aligned RAS grid.
    public static func scaling(_ spacing: [Double], origin: [Double] = [0, 0, 0]) -> Affine {
        Affine(rowMajor: [spacing[0], 0, 0, origin[0],
                          0, spacing[1], 0, origin[1],
                          0, 0, spacing[2], origin[2],
                          0, 0, 0, 1])
    }

    public subscript(row: Int, column: Int) -> Double {
        get { m[row * 4 + column] }
        set { m[row * 4 + column] = newValue }
    }

    /// Matrix product `self · other`.
    public func multiplied(by other: Affine) -> Affine {
        var out = [Double](repeating: 0, count: 16)
        for r in 0..<4 {
            for c in 0..<4 {
                var s = 0.0
                for k in 0..<4 { s += self[r, k] * other[k, c] }
                out[r * 4 + c] = s
            }
        }
        return Affine(rowMajor: out)
    }

    /// Applies the transform to a point.
    public func apply(_ p: SIMD3<Double>) -> SIMD3<Double> {
        SIMD3(self[0, 0] * p.x + self[0, 1] * p.y + self[0, 2] * p.z + self[0, 3],
              self[1, 0] * p.x + self[1, 1] * p.y + self[1, 2] * p.z + self[1, 3],
              self[2, 0] * p.x + self[2, 1] * p.y + self[2, 2] * p.z + self[2, 3])
    }

    /// Determinant of the 3×3 linear part; zero means the affine cannot map voxels to world.
    public var linearDeterminant: Double {
        let a = self
        return a[0, 0] * (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1])
            - a[0, 1] * (a[1, 0] * a[2, 2] - a[1, 2] * a[2, 0])
            + a[0, 2] * (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0])
    }

    /// Inverse of an affine transform, or nil when the linear part is singular.
    public var inverse: Affine? {
        let det = linearDeterminant
        guard det.isFinite, abs(det) > 1e-12 else { return nil }
        let a = self
        var inv = [Double](repeating: 0, count: 16)
        inv[0] = (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1]) / det
        inv[1] = (a[0, 2] * a[2, 1] - a[0, 1] * a[2, 2]) / det
        inv[2] = (a[0, 1] * a[1, 2] - a[0, 2] * a[1, 1]) / det
        inv[4] = (a[1, 2] * a[2, 0] - a[1, 0] * a[2, 2]) / det
        inv[5] = (a[0, 0] * a[2, 2] - a[0, 2] * a[2, 0]) / det
        inv[6] = (a[0, 2] * a[1, 0] - a[0, 0] * a[1, 2]) / det
        inv[8] = (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]) / det
        inv[9] = (a[0, 1] * a[2, 0] - a[0, 0] * a[2, 1]) / det
        inv[10] = (a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]) / det
        for r in 0..<3 {
            inv[r * 4 + 3] = -(inv[r * 4] * a[0, 3] + inv[r * 4 + 1] * a[1, 3] + inv[r * 4 + 2] * a[2, 3])
        }
        inv[15] = 1
        return Affine(rowMajor: inv)
    }

    /// Length of each voxel axis in world millimetres (the column norms of the linear part).
    public var columnLengths: [Double] {
        (0..<3).map { c in (0..<3).reduce(0.0) { $0 + self[$1, c] * self[$1, c] }.squareRoot() }
    }

    public var description: String {
        (0..<4).map { r in
            (0..<4).map { c in String(format: "%10.4f", self[r, c]) }.joined(separator: " ")
        }.joined(separator: "\n")
    }

    /// True when every entry differs by at most `tolerance`.
    public func isClose(to other: Affine, tolerance: Double = 1e-4) -> Bool {
        zip(m, other.m).allSatisfy { abs($0 - $1) <= tolerance }
    }
}

/// The sampling grid of a volume: voxel counts along i, j, k and the voxel→world affine.
///
/// Voxels are stored in NIfTI order: i varies fastest, then j, then k.
public struct Grid: Equatable, Sendable {
    public var dims: [Int]
    public var affine: Affine

    public init(dims: [Int], affine: Affine) {
        precondition(dims.count == 3, "a grid has three dimensions")
        self.dims = dims
        self.affine = affine
    }

    public var voxelCount: Int { dims[0] * dims[1] * dims[2] }

    /// Voxel size in mm along i, j, k.
    public var spacing: [Double] { affine.columnLengths }

    /// Linear index of voxel (i, j, k) in NIfTI order.
    @inline(__always)
    public func index(_ i: Int, _ j: Int, _ k: Int) -> Int { i + dims[0] * (j + dims[1] * k) }

    public func contains(_ i: Int, _ j: Int, _ k: Int) -> Bool {
        i >= 0 && j >= 0 && k >= 0 && i < dims[0] && j < dims[1] && k < dims[2]
    }

    public func world(_ i: Double, _ j: Double, _ k: Double) -> SIMD3<Double> {
        affine.apply(SIMD3(i, j, k))
    }

    /// Continuous voxel coordinates (i, j, k) of a world point in RAS mm; nil for a singular affine.
    public func voxel(atWorld p: SIMD3<Double>) -> SIMD3<Double>? {
        affine.inverse?.apply(p)
    }

    /// True when both grids have the same dims and affines within `tolerance` mm.
    public func matches(_ other: Grid, tolerance: Double = 1e-3) -> Bool {
        dims == other.dims && affine.isClose(to: other.affine, tolerance: tolerance)
    }
}

/// A scalar image (CT intensities, attributions) on a grid.
public struct Volume: Sendable {
    public var grid: Grid
    public var voxels: [Float]

    public init(grid: Grid, voxels: [Float]) {
        precondition(voxels.count == grid.voxelCount, "voxel count must match the grid")
        self.grid = grid
        self.voxels = voxels
    }

    public subscript(i: Int, j: Int, k: Int) -> Float {
        get { voxels[grid.index(i, j, k)] }
        set { voxels[grid.index(i, j, k)] = newValue }
    }
}

/// An integer label map (segmentation) on a grid.
public struct LabelMap: Sendable {
    public var grid: Grid
    public var labels: [Int32]

    public init(grid: Grid, labels: [Int32]) {
        precondition(labels.count == grid.voxelCount, "label count must match the grid")
        self.grid = grid
        self.labels = labels
    }

    public subscript(i: Int, j: Int, k: Int) -> Int32 {
        get { labels[grid.index(i, j, k)] }
        set { labels[grid.index(i, j, k)] = newValue }
    }
}
