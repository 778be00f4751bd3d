import Foundation

/// Orientation codes and reorientation, following nibabel's `io_orientation` / `aff2axcodes` and
/// `as_closest_canonical` (MONAI `Orientation` gives the same result).
public enum Orientation {
    /// The world axis (0 = x/R-L, 1 = y/A-P, 2 = z/S-I) and direction (+1 or −1) each voxel axis
    /// follows most closely.
    public struct AxisMapping: Equatable, Sendable {
        public var worldAxis: Int
        public var sign: Int
    }

    private static let positive: [Character] = ["R", "A", "S"]
    private static let negative: [Character] = ["L", "P", "I"]

    /// Orientation code such as "RAS" or "LPS": the direction each voxel axis i, j, k points to.
    public static func code(for affine: Affine) -> String {
        String(mapping(for: affine).map { $0.sign > 0 ? positive[$0.worldAxis] : negative[$0.worldAxis] })
    }

    /// True for three letters naming each of the R/L, A/P, S/I axes once.
    public static func isValidCode(_ code: String) -> Bool {
        parse(code) != nil
    }

    /// nibabel `io_orientation`: take the closest rotation to the direction cosines (polar
    /// decomposition), then give each voxel axis, in order, the unused world axis it is most aligned
    /// with.
    public static func mapping(for affine: Affine) -> [AxisMapping] {
        var rs = Matrix3(affine)
        for c in 0..<3 {
            let n = (0..<3).reduce(0.0) { $0 + rs[$1, c] * rs[$1, c] }.squareRoot()
            if n > 0 { for r in 0..<3 { rs[r, c] /= n } }
        }
        var r = rs.closestRotation()
        var result: [AxisMapping] = []
        var used = Set<Int>()
        for c in 0..<3 {
            var best = -1
            var bestValue = 0.0
            for row in 0..<3 where !used.contains(row) && abs(r[row, c]) > bestValue {
                best = row
                bestValue = abs(r[row, c])
            }
            if best < 0 { best = (0..<3).first { !used.contains($0) }! }
            used.insert(best)
            result.append(AxisMapping(worldAxis: best, sign: r[best, c] < 0 ? -1 : 1))
            for col in 0..<3 { r[best, col] = 0 }
        }
        return result
    }

    /// Parses a code into, for each new voxel axis, its world axis and sign.
    static func parse(_ code: String) -> [AxisMapping]? {
        let letters = Array(code.uppercased())
        guard letters.count == 3 else { return nil }
        var out: [AxisMapping] = []
        for ch in letters {
            if let a = positive.firstIndex(of: ch) { out.append(AxisMapping(worldAxis: a, sign: 1)) }
            else if let a = negative.firstIndex(of: ch) { out.append(AxisMapping(worldAxis: a, sign: -1)) }
            else { return nil }
        }
        return Set(out.map(\.worldAxis)).count == 3 ? out : nil
    }
}

/// An exact axis permutation plus flips that takes a grid to a target orientation.
public struct Reorientation: Sendable {
    /// The grid after reorientation.
    public let grid: Grid
    /// For each new axis, the source axis it reads and whether it runs backwards.
    public let sourceAxis: [Int]
    public let flipped: [Bool]
    let sourceDims: [Int]

    /// Plans the reorientation of `grid` to `code` (e.g. "RAS"). Precondition: `Orientation.isValidCode(code)`.
    public init(from grid: Grid, to code: String) {
        guard let target = Orientation.parse(code) else { preconditionFailure("invalid orientation code \(code)") }
        let current = Orientation.mapping(for: grid.affine)
        var sourceAxis = [0, 0, 0]
        var flipped = [false, false, false]
        for (src, m) in current.enumerated() {
            let dst = target.firstIndex { $0.worldAxis == m.worldAxis }!
            sourceAxis[dst] = src
            flipped[dst] = m.sign != target[dst].sign
        }
        // new voxel n ↦ old voxel: old[src] = flipped ? dim-1-new[n] : new[n].
        var t = Affine(rowMajor: [Double](repeating: 0, count: 16))
        t[3, 3] = 1
        for n in 0..<3 {
            let s = sourceAxis[n]
            t[s, n] = flipped[n] ? -1 : 1
            t[s, 3] = flipped[n] ? Double(grid.dims[s] - 1) : 0
        }
        self.grid = Grid(dims: sourceAxis.map { grid.dims[$0] }, affine: grid.affine.multiplied(by: t))
        self.sourceAxis = sourceAxis
        self.flipped = flipped
        self.sourceDims = grid.dims
    }

    /// True when nothing moves.
    public var isIdentity: Bool { sourceAxis == [0, 1, 2] && flipped == [false, false, false] }

    /// Rearranges voxels stored in NIfTI order (i fastest); values are copied, never interpolated.
    public func apply<T>(_ data: [T]) -> [T] {
        if isIdentity { return data }
        let strides = [1, sourceDims[0], sourceDims[0] * sourceDims[1]]
        var step = [0, 0, 0]
        var base = 0
        for n in 0..<3 {
            let s = sourceAxis[n]
            step[n] = flipped[n] ? -strides[s] : strides[s]
            if flipped[n] { base += (sourceDims[s] - 1) * strides[s] }
        }
        let d = grid.dims
        return data.withUnsafeBufferPointer { src in
            [T](unsafeUninitializedCapacity: data.count) { out, count in
                var o = 0
                for k in 0..<d[2] {
                    for j in 0..<d[1] {
                        var p = base + j * step[1] + k * step[2]
                        for _ in 0..<d[0] {
                            (out.baseAddress! + o).initialize(to: src[p])
                            o += 1
                            p += step[0]
                        }
                    }
                }
                count = o
            }
        }
    }
}

extension Volume {
    /// The same voxels permuted and flipped so the axes follow `code` (default RAS), with the
    /// affine updated so every voxel keeps its world position.
    public func reoriented(to code: String = "RAS") -> Volume {
        let plan = Reorientation(from: grid, to: code)
        return Volume(grid: plan.grid, voxels: plan.apply(voxels))
    }
}

extension LabelMap {
    /// Label-map counterpart of `Volume.reoriented(to:)`.
    public func reoriented(to code: String = "RAS") -> LabelMap {
        let plan = Reorientation(from: grid, to: code)
        return LabelMap(grid: plan.grid, labels: plan.apply(labels))
    }
}

/// A 3×3 matrix for the small linear algebra geometry needs.
struct Matrix3 {
    var a: [Double]

    init(_ affine: Affine) {
        a = [affine[0, 0], affine[0, 1], affine[0, 2],
             affine[1, 0], affine[1, 1], affine[1, 2],
             affine[2, 0], affine[2, 1], affine[2, 2]]
    }

    init(_ a: [Double]) { self.a = a }

    subscript(r: Int, c: Int) -> Double {
        get { a[r * 3 + c] }
        set { a[r * 3 + c] = newValue }
    }

    var determinant: Double {
        a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6])
    }

    var transposed: Matrix3 { Matrix3([a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]]) }

    var inverse: Matrix3? {
        let det = determinant
        guard det.isFinite, abs(det) > 1e-300 else { return nil }
        let m = self
        return Matrix3([
            (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1]) / det, (m[0, 2] * m[2, 1] - m[0, 1] * m[2, 2]) / det,
            (m[0, 1] * m[1, 2] - m[0, 2] * m[1, 1]) / det,
            (m[1, 2] * m[2, 0] - m[1, 0] * m[2, 2]) / det, (m[0, 0] * m[2, 2] - m[0, 2] * m[2, 0]) / det,
            (m[0, 2] * m[1, 0] - m[0, 0] * m[1, 2]) / det,
            (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0]) / det, (m[0, 1] * m[2, 0] - m[0, 0] * m[2, 1]) / det,
            (m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]) / det,
        ])
    }

    static func * (x: Matrix3, y: Matrix3) -> Matrix3 {
        var out = [Double](repeating: 0, count: 9)
        for r in 0..<3 { for c in 0..<3 { for k in 0..<3 { out[r * 3 + c] += x[r, k] * y[k, c] } } }
        return Matrix3(out)
    }

    /// Orthogonal polar factor by Newton iteration X ← (X + X⁻ᵀ)/2, the same matrix nibabel gets
    /// from its SVD (U·Vᵀ). A singular matrix is returned unchanged.
    func closestRotation() -> Matrix3 {
        var x = self
        for _ in 0..<100 {
            guard let inv = x.inverse else { return self }
            let invT = inv.transposed
            let next = Matrix3(zip(x.a, invT.a).map { ($0 + $1) / 2 })
            let delta = zip(next.a, x.a).reduce(0.0) { max($0, abs($1.0 - $1.1)) }
            x = next
            if delta < 1e-14 { break }
        }
        return x
    }
}
