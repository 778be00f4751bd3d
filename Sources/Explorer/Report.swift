import Foundation
import Engine

extension CellGrid {
    /// The grid as text with 24-bit ANSI colours, so `cat` shows it in colour.
    public var ansiLines: [String] {
        (0..<height).map { y in
            var line = ""
            var last: (RGB, RGB, CellAttributes)?
            for x in 0..<width {
                let c = self[x, y]
                if last == nil || last! != (c.fg, c.bg, c.attrs) {
                    var sgr = "\u{1B}[0"
                    if c.attrs.contains(.bold) { sgr += ";1" }
                    if c.attrs.contains(.dim) { sgr += ";2" }
                    if c.attrs.contains(.underline) { sgr += ";4" }
                    if c.attrs.contains(.reverse) { sgr += ";7" }
                    sgr += ";38;2;\(c.fg.r);\(c.fg.g);\(c.fg.b);48;2;\(c.bg.r);\(c.bg.g);\(c.bg.b)m"
                    line += sgr
                    last = (c.fg, c.bg, c.attrs)
                }
                line.unicodeScalars.append(c.glyph)
            }
            return line + "\u{1B}[0m"
        }
    }
}

/// Orientation code of an affine (nibabel's `aff2axcodes`): the direction each voxel axis points to.
public func orientationCode(_ affine: Affine) -> String {
    (0..<3).map { a -> String in
        let col = (0..<3).map { affine[$0, a] }
        let r = (0..<3).max { abs(col[$0]) < abs(col[$1]) } ?? a
        return col[r] >= 0 ? ["R", "A", "S"][r] : ["L", "P", "I"][r]
    }.joined()
}

/// The text report: provenance, the three planes at the crosshair, the ranking and the probe values.
public enum Report {
    /// Cells per plane picture in the report.
    static let planeWidth = 40
    static let planeHeight = 20

    public static func make(_ explorer: Explorer, ansi: Bool, date: Date) -> String {
        let ex = explorer
        let grid = ex.scene.ct.grid
        let sp = grid.spacing
        let stamp = ISO8601DateFormatter().string(from: date)
        var out: [String] = []
        out.append("agg2exp report")
        out.append("")
        out.append("Provenance")
        var prov: [(String, String)] = [
            ("scan", ex.scene.scanPath),
            ("dims", grid.dims.map(String.init).joined(separator: " x ")),
            ("spacing", sp.map { String(format: "%.3f", $0) }.joined(separator: " x ") + " mm"),
            ("orientation", orientationCode(grid.affine)),
            ("labels", ex.scene.labelSource.isEmpty ? "none" : ex.scene.labelSource),
            ("model", ex.modelDescription.isEmpty ? "none" : ex.modelDescription),
        ]
        if !ex.methods.isEmpty {
            prov += [("classes", ex.classNames.enumerated().map { "\($0.offset) \($0.element)" }.joined(separator: ", ")),
                     ("method", ex.method),
                     ("target", "\(ex.targetName) (class \(ex.state.target))"),
                     ("processing", ex.state.processing.rawValue)]
            prov += ex.attribution?.details ?? [("attribution", "not computed")]
        }
        prov.append(("date", stamp))
        out += table(prov)
        out.append("")
        out.append("Status at the crosshair")
        out += table(ex.probe)
        out.append("")
        out += planes(ex, ansi: ansi)
        out.append("")
        out.append(ex.methods.isEmpty ? "Segments (no model, sorted by voxels)"
                   : "Ranking (\(ex.method), target \(ex.targetName), \(ex.state.processing.rawValue), "
                   + "sorted by \(ex.rankValueName))")
        let rows = ex.rankedRows
        if rows.isEmpty {
            out.append("  (no ranking: attribution not computed)")
        } else {
            let nameW = max(7, rows.map(\.name.count).max() ?? 7)
            out.append("  " + "rank".leftPadded(to: 4) + "  " + "segment".rightPadded(to: nameW) + "  "
                       + "voxels".leftPadded(to: 8) + "  " + "mass".leftPadded(to: 10) + "  " + "mean".leftPadded(to: 10))
            for (n, r) in rows.enumerated() {
                out.append("  " + String(n + 1).leftPadded(to: 4) + "  " + r.name.rightPadded(to: nameW) + "  "
                           + String(r.voxels).leftPadded(to: 8) + "  " + Fmt.num(r.mass, digits: 4).leftPadded(to: 10)
                           + "  " + Fmt.num(r.mean, digits: 4).leftPadded(to: 10))
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    private static func table(_ pairs: [(String, String)]) -> [String] {
        let w = pairs.map(\.0.count).max() ?? 0
        return pairs.map { "  " + $0.0.rightPadded(to: w) + "  " + $0.1 }
    }

    /// Plane pictures side by side. Plain text uses shading characters in two rows (CT with the
    /// crosshair, then the processed attribution); ANSI draws one row of coloured half blocks with
    /// both overlays, as on screen.
    private static func planes(_ ex: Explorer, ansi: Bool) -> [String] {
        var out = ["Planes at voxel \(ex.state.crosshair.map(String.init).joined(separator: " "))"]
        let titles = Plane.allCases.map { $0.title.rightPadded(to: planeWidth) }.joined(separator: "  ")
        if ansi {
            var view = ex
            view.capabilities = .full
            view.state.planes = Array(repeating: PlaneView(), count: 3)
            out.append(titles)
            out += strip(view, ansi: true)
            out.append("Legend: half blocks, CT \(ex.state.window.label); labels \(ex.effectiveLabelMode.rawValue); "
                       + "heatmap \(legend(ex)); crosshair in \(ex.theme[.crosshair])")
            return out
        }
        var ct = ex
        ct.capabilities = RenderCapabilities(depth: .monochrome, unicode: true)
        ct.state.planes = Array(repeating: PlaneView(), count: 3)
        ct.state.labelMode = .off
        ct.state.highlighted = nil
        ct.state.heatmapVisible = false
        out.append("CT  " + titles)
        out += strip(ct, ansi: false).map { "    " + $0 }
        if ex.attribution != nil {
            var attr = ct
            attr.state.heatmapVisible = true
            attr.state.signedHeatmap = false
            attr.state.heatmapOpacity = 1
            // A window above every CT value leaves only the heatmap.
            attr.state.window = WindowSetting(width: 1, level: 1e9)
            out.append("")
            out.append("|a| " + titles)
            out += strip(attr, ansi: false).map { "    " + $0 }
        }
        out.append("Legend: shading \" ░▒▓█\" dark to bright; CT \(ex.state.window.label); "
                   + "attribution \(legend(ex)); + | - crosshair; letters give orientation (R L A P S I)")
        return out
    }

    private static func legend(_ ex: Explorer) -> String {
        guard let a = ex.attribution else { return "not computed" }
        let s = HeatmapScale(attribution: a, state: ex.state)
        let what = ex.state.signedHeatmap ? "signed a" : "\(ex.state.processing.rawValue)(a)"
        return "\(what) from \(Fmt.num(Double(s.threshold))) (hidden below) to \(Fmt.num(Double(s.clip))) "
            + "(clip p\(Fmt.num(ex.state.clipPercentile, digits: 1)), max \(Fmt.num(Double(a.maxAbs))))"
    }

    private static func strip(_ ex: Explorer, ansi: Bool) -> [String] {
        var grid = CellGrid(width: 3 * planeWidth + 4, height: planeHeight,
                            fill: Cell(" ", fg: ex.theme[.foreground], bg: ex.theme[.background]))
        // One scale for the three pictures, as on screen, at zoom 1.
        var ex = ex
        ex.state.linked = true
        ex.state.sharedZoom = 1
        ex.state.sharedCenter = nil
        let scale = Plane.allCases.map { plane -> Double in
            let e = PlaneViewport.extent(of: plane, grid: ex.scene.ct.grid)
            return min(Double(planeWidth) / e.0, Double(2 * planeHeight) / e.1)
        }.min() ?? 1
        let renderer = PlaneRenderer(explorer: ex, theme: ex.theme, caps: ex.capabilities, scale: scale)
        for plane in Plane.allCases {
            renderer.draw(plane, into: &grid, rect: Rect(x: plane.rawValue * (planeWidth + 2), y: 0,
                                                         width: planeWidth, height: planeHeight))
        }
        return ansi ? grid.ansiLines : grid.textLines.map { line in
            var s = Substring(line)
            while s.last == " " { s = s.dropLast() }
            return String(s)
        }
    }

    /// Writes the report atomically into `directory` as `agg2exp-report-<timestamp>.txt`
    /// (`.ansi.txt` with colours) and returns the path.
    public static func export(_ explorer: Explorer, ansi: Bool, directory: URL, date: Date) throws -> URL {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyyMMdd-HHmmss"
        let base = "agg2exp-report-\(f.string(from: date))"
        let ext = ansi ? ".ansi.txt" : ".txt"
        var url = directory.appendingPathComponent(base + ext)
        var n = 2
        while FileManager.default.fileExists(atPath: url.path) {
            url = directory.appendingPathComponent("\(base)-\(n)\(ext)")
            n += 1
        }
        try write(make(explorer, ansi: ansi, date: date), to: url)
        return url
    }

    /// Writes text through a temporary file and a rename, so readers never see half a report.
    public static func write(_ text: String, to url: URL) throws {
        do {
            try AtomicFile.write(Data(text.utf8), to: url.path)
        } catch {
            throw ReportError(path: url.path, problem: error.problem)
        }
    }
}

public struct ReportError: Error, CustomStringConvertible {
    public var path: String
    public var problem: String
    public var description: String { "cannot write \(path): \(problem)" }
}
