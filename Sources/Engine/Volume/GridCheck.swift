import Foundation

/// A label map whose grid differs from its scan's; names both files and both grids.
public struct GridMismatchError: Error, CustomStringConvertible, Sendable {
    public let labelPath: String
    public let labelGrid: Grid
    public let scanPath: String
    public let scanGrid: Grid

    public var description: String {
        "label map \(labelPath) is not on the grid of scan \(scanPath):\n"
            + "  labels: \(labelGrid.summary)\n  scan:   \(scanGrid.summary)"
    }
}

extension Grid {
    /// One line: dims, spacing, origin and orientation code.
    public var summary: String {
        let f = { (v: [Double]) in v.map { String(format: "%.4g", $0) }.joined(separator: ", ") }
        let origin = world(0, 0, 0)
        return "dims \(dims.map(String.init).joined(separator: "×")), spacing (\(f(spacing))) mm, "
            + "origin (\(f([origin.x, origin.y, origin.z]))) mm, \(Orientation.code(for: affine))"
    }
}

extension LabelMap {
    /// Throws unless this label map has the scan's dims and an affine within 1e-3 mm of it
    /// (labels are only meaningful voxel-for-voxel on the scan they were drawn on).
    public func ensureOnGrid(of scan: Grid, labelPath: String, scanPath: String) throws {
        guard grid.matches(scan, tolerance: 1e-3) else {
            throw GridMismatchError(labelPath: labelPath, labelGrid: grid, scanPath: scanPath, scanGrid: scan)
        }
    }
}
