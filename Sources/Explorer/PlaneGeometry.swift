import Engine

/// The three anatomical planes, each shown in radiological convention (patient right on the
/// screen's left; anterior on the left of the sagittal plane; superior up).
public enum Plane: Int, CaseIterable, Sendable {
    case axial, coronal, sagittal

    public var title: String {
        switch self {
        case .axial: return "Axial"
        case .coronal: return "Coronal"
        case .sagittal: return "Sagittal"
        }
    }

    /// World axis (0 = x R, 1 = y A, 2 = z S) along the screen's horizontal and vertical, and the
    /// plane normal.
    var worldAxes: (horizontal: Int, vertical: Int, normal: Int) {
        switch self {
        case .axial: return (0, 1, 2)
        case .coronal: return (0, 2, 1)
        case .sagittal: return (1, 2, 0)
        }
    }

    /// Orientation letters at the left, right, top and bottom edges.
    public var letters: (left: Character, right: Character, top: Character, bottom: Character) {
        switch self {
        case .axial: return ("R", "L", "A", "P")
        case .coronal: return ("R", "L", "S", "I")
        case .sagittal: return ("A", "P", "S", "I")
        }
    }
}

/// Which voxel axis runs along each screen direction of a plane, and whether it runs backwards.
public struct PlaneAxes: Equatable, Sendable {
    public var horizontal: Int
    public var vertical: Int
    public var normal: Int
    public var flipHorizontal: Bool
    public var flipVertical: Bool

    /// Assigns voxel axes to world axes by the permutation with the largest direction cosines (so
    /// oblique affines pick the nearest axis), then flips axes so screen right points to patient
    /// left (−x) or posterior (−y) and screen down points to posterior (−y) or inferior (−z).
    public init(plane: Plane, affine: Affine) {
        let perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]
        // worldOf[a] = the world axis voxel axis a points along.
        var worldOf = [0, 1, 2]
        var best = -1.0
        for p in perms {
            let score = (0..<3).reduce(0.0) { $0 + abs(affine[p[$1], $1]) }
            if score > best + 1e-12 { best = score; worldOf = p }
        }
        let w = plane.worldAxes
        let voxelAxis = { (world: Int) in worldOf.firstIndex(of: world) ?? world }
        horizontal = voxelAxis(w.horizontal)
        vertical = voxelAxis(w.vertical)
        normal = voxelAxis(w.normal)
        // Screen right and screen down both point towards decreasing world coordinates.
        flipHorizontal = affine[w.horizontal, horizontal] > 0
        flipVertical = affine[w.vertical, vertical] > 0
    }
}

/// How a plane's slice maps onto a pane's pixel canvas (half blocks: two pixels per cell row).
///
/// `columns[px]` and `rows[py]` give the voxel index along the horizontal and vertical voxel axes
/// (−1 outside the slice), so rendering and mouse hit-testing share one mapping.
public struct PlaneViewport: Sendable {
    public let plane: Plane
    public let axes: PlaneAxes
    public let pixelWidth: Int
    public let pixelHeight: Int
    public let columns: [Int]
    public let rows: [Int]
    /// Pixel column and row of the crosshair (may lie outside the canvas).
    public let crosshairPixel: (x: Int, y: Int)
    /// Pixels per voxel along the horizontal axis (magnification).
    public let pixelsPerVoxel: Double

    /// - Parameters:
    ///   - zoom: 1 fits the slice into the canvas; larger values magnify about `center`.
    ///   - center: the slice point (display millimetres from the top-left voxel edge) shown at the
    ///     canvas centre; nil centres the slice.
    ///   - pixelsPerMM: the scale at zoom 1 (shared by all planes); nil fits this slice alone.
    public init(plane: Plane, grid: Grid, crosshair: [Int], pixelWidth: Int, pixelHeight: Int,
                zoom: Double, center: (Double, Double)?, pixelsPerMM: Double? = nil) {
        self.plane = plane
        let axes = PlaneAxes(plane: plane, affine: grid.affine)
        self.axes = axes
        self.pixelWidth = max(0, pixelWidth)
        self.pixelHeight = max(0, pixelHeight)
        let spacing = grid.spacing.map { $0 > 0 && $0.isFinite ? $0 : 1 }
        let (nh, nv) = (grid.dims[axes.horizontal], grid.dims[axes.vertical])
        let (sh, sv) = (spacing[axes.horizontal], spacing[axes.vertical])
        let widthMM = Double(nh) * sh, heightMM = Double(nv) * sv
        let fit = pixelsPerMM ?? min(Double(self.pixelWidth) / widthMM, Double(self.pixelHeight) / heightMM)
        let scale = max(fit * max(zoom, 0.01), 1e-9)
        let c = center ?? (widthMM / 2, heightMM / 2)
        pixelsPerVoxel = scale * sh
        func map(_ n: Int, _ spacing: Double, _ pixels: Int, _ centre: Double, _ flip: Bool) -> [Int] {
            (0..<pixels).map { p in
                let mm = centre + (Double(p) + 0.5 - Double(pixels) / 2) / scale
                let d = Int((mm / spacing).rounded(.down))
                guard mm >= 0, d < n else { return -1 }
                return flip ? n - 1 - d : d
            }
        }
        columns = map(nh, sh, self.pixelWidth, c.0, axes.flipHorizontal)
        rows = map(nv, sv, self.pixelHeight, c.1, axes.flipVertical)
        func pixel(_ index: Int, _ n: Int, _ spacing: Double, _ pixels: Int, _ centre: Double, _ flip: Bool) -> Int {
            let d = flip ? n - 1 - index : index
            let mm = (Double(d) + 0.5) * spacing
            return Int(((mm - centre) * scale + Double(pixels) / 2).rounded(.down))
        }
        crosshairPixel = (pixel(crosshair[axes.horizontal], nh, sh, self.pixelWidth, c.0, axes.flipHorizontal),
                          pixel(crosshair[axes.vertical], nv, sv, self.pixelHeight, c.1, axes.flipVertical))
    }

    /// Width and height in millimetres of `plane` as displayed.
    public static func extent(of plane: Plane, grid: Grid) -> (Double, Double) {
        let axes = PlaneAxes(plane: plane, affine: grid.affine)
        let spacing = grid.spacing.map { $0 > 0 && $0.isFinite ? $0 : 1 }
        return (Double(grid.dims[axes.horizontal]) * spacing[axes.horizontal],
                Double(grid.dims[axes.vertical]) * spacing[axes.vertical])
    }

    /// Display millimetres of a point given in continuous voxel coordinates (voxel i spans [i, i+1]).
    public static func displayPoint(grid: Grid, axes: PlaneAxes, point u: [Double]) -> (Double, Double) {
        let spacing = grid.spacing.map { $0 > 0 && $0.isFinite ? $0 : 1 }
        let (nh, nv) = (Double(grid.dims[axes.horizontal]), Double(grid.dims[axes.vertical]))
        let dh = axes.flipHorizontal ? nh - u[axes.horizontal] : u[axes.horizontal]
        let dv = axes.flipVertical ? nv - u[axes.vertical] : u[axes.vertical]
        return (dh * spacing[axes.horizontal], dv * spacing[axes.vertical])
    }

    /// Slice centre in display millimetres for voxel indices (h, v): used to zoom about the crosshair.
    public static func displayPoint(grid: Grid, axes: PlaneAxes, h: Int, v: Int) -> (Double, Double) {
        let spacing = grid.spacing.map { $0 > 0 && $0.isFinite ? $0 : 1 }
        let (nh, nv) = (grid.dims[axes.horizontal], grid.dims[axes.vertical])
        let dh = axes.flipHorizontal ? nh - 1 - h : h
        let dv = axes.flipVertical ? nv - 1 - v : v
        return ((Double(dh) + 0.5) * spacing[axes.horizontal], (Double(dv) + 0.5) * spacing[axes.vertical])
    }
}
