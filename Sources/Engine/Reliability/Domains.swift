import Foundation

/// A value outside the domain agg2exp accepts; the message names where it came from, the value
/// and the accepted range.
public struct DomainError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The geometry agg2exp accepts, checked on headers and on model grids before any voxel buffer
/// is allocated.
public enum GeometryDomain {
    /// Voxel sizes (affine column lengths) in mm. CT is 0.1–10 mm; the range leaves room for
    /// micro-CT and thick slabs while keeping every derived grid size finite.
    public static let spacingRange: ClosedRange<Double> = 1e-3...1e4
    /// Largest ratio between the largest and smallest voxel size of one grid.
    public static let maxAnisotropy = 1e3
    /// Largest grid extent along one axis after resampling.
    public static let maxAxisVoxels = 1 << 16

    /// Why these voxel sizes are unsupported, or nil when they are fine.
    public static func spacingProblem(_ spacing: [Double]) -> String? {
        let text = spacing.map { String(format: "%.6g", $0) }.joined(separator: " × ")
        guard spacing.allSatisfy({ $0.isFinite && spacingRange.contains($0) }) else {
            return "voxel size \(text) mm is outside \(spacingRange.lowerBound)…\(spacingRange.upperBound) mm"
        }
        guard let lo = spacing.min(), let hi = spacing.max(), hi / lo <= maxAnisotropy else {
            return "voxel size \(text) mm is more anisotropic than \(Int(maxAnisotropy)):1"
        }
        return nil
    }

    /// The grid a scan lands on after reorientation to `orientation` and resampling to
    /// `spacing` (as `SegmentationModel.preprocess` does), computed without touching voxels;
    /// throws when it would exceed `maxAxisVoxels` per axis or `NIfTI.maxVoxels` in total.
    public static func modelGrid(of scan: Grid, orientation: String, spacing: [Double],
                                 source: String) throws(DomainError) -> Grid {
        let oriented = Reorientation(from: scan, to: orientation).grid
        let matches = zip(oriented.spacing, spacing).allSatisfy { abs($0 - $1) <= 1e-3 }
        let target = matches ? oriented : SpacingPlan(from: oriented, toSpacing: spacing).target
        let dims = target.dims
        var count = 1
        var overflow = false
        for d in dims {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            count = p
            overflow = overflow || o
        }
        guard dims.allSatisfy({ $0 <= maxAxisVoxels }), !overflow, Int64(count) <= NIfTI.maxVoxels else {
            let spacingText = spacing.map { String(format: "%.6g", $0) }.joined(separator: " × ")
            throw DomainError("\(source): resampling \(scan.dims.map(String.init).joined(separator: "×")) voxels "
                + "of \(scan.spacing.map { String(format: "%.6g", $0) }.joined(separator: " × ")) mm to \(spacingText) mm "
                + "gives \(dims.map(String.init).joined(separator: "×")) voxels, more than the supported "
                + "\(maxAxisVoxels) per axis and 2^31 in total")
        }
        return target
    }
}

/// Integer options and environment values, checked against a stated range before use.
public enum OptionDomain {
    /// Throws unless `value` lies in `range`; `name` is the option as the user typed it.
    public static func check(_ value: Int, _ name: String, in range: ClosedRange<Int>) throws(DomainError) {
        guard range.contains(value) else {
            throw DomainError("\(name) \(value) is outside \(range.lowerBound)…\(range.upperBound)")
        }
    }
}
