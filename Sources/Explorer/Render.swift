import Foundation
import Engine

/// Compact number formatting for narrow columns.
enum Fmt {
    static func num(_ v: Double?, digits: Int = 3) -> String {
        guard let v, v.isFinite else { return "–" }
        let a = abs(v)
        if a != 0 && (a < 1e-3 || a >= 1e5) { return String(format: "%.\(max(digits - 1, 1))e", v) }
        return String(format: "%.\(digits)f", v)
    }

    static func signed(_ v: Double) -> String {
        let a = abs(v)
        let body = a != 0 && (a < 1e-3 || a >= 1e5) ? String(format: "%.2e", a) : String(format: "%.4f", a)
        return (v < 0 ? "-" : "+") + body
    }
}

extension Explorer {
    /// Draws the whole frame.
    public func render() -> CellGrid {
        let theme = self.theme
        var grid = CellGrid(width: width, height: height,
                            fill: Cell(" ", fg: theme[.foreground], bg: theme[.background]))
        let layout = self.layout
        if layout.tooSmall {
            drawTooSmall(into: &grid)
            return grid
        }
        if compareMethod != nil {
            drawComparedPlanes(into: &grid, layout: layout)
            CompareWidget(self).render(into: &grid, rect: layout.sidebar)
        } else {
            let planes = PlaneRenderer(explorer: self, theme: theme, caps: capabilities, scale: layout.pixelsPerMM)
            for plane in Plane.allCases {
                drawPaneTitle(plane, into: &grid, rect: layout.panes[plane.rawValue])
                planes.draw(plane, into: &grid, rect: layout.image(of: plane))
            }
            drawSeparators(into: &grid, layout: layout)
            SidebarWidget(self).render(into: &grid, rect: layout.sidebar)
        }
        StatusBarWidget(self).render(into: &grid, rect: layout.status)
        KeyHintsWidget(self).render(into: &grid, rect: layout.hints)
        if state.matrix != nil {
            MatrixWidget(self).render(into: &grid, rect: Rect(x: 0, y: 0, width: width, height: layout.status.y))
        }
        if let page = state.globalPage { drawGlobalPage(page, into: &grid) }
        if state.compute.panel != nil { drawOptionsPanel(into: &grid) }
        if state.helpVisible { HelpWidget(self).render(into: &grid, rect: Rect(x: 0, y: 0, width: width, height: height)) }
        return grid
    }

    /// Colours and glyphs for the current theme and terminal.
    public var painter: Painter { Painter(theme: theme, capabilities: capabilities) }

    var glyphs: (vertical: Unicode.Scalar, horizontal: Unicode.Scalar, full: Unicode.Scalar, light: Unicode.Scalar,
                 separator: String) { painter.glyphs }

    func style(_ fg: ThemeRole, _ bg: ThemeRole, emphasised: Bool = false) -> (RGB, RGB, CellAttributes) {
        painter.style(fg, bg, emphasised: emphasised)
    }

    private func drawTooSmall(into grid: inout CellGrid) {
        let (fg, bg, _) = style(.warning, .background)
        let lines = ["Terminal too small: \(width)×\(height).",
                     "agg2exp needs at least \(Layout.minimumWidth)×\(Layout.minimumHeight).",
                     "Enlarge the window, or press q to quit."]
        let top = max(0, (height - lines.count) / 2)
        for (n, line) in lines.enumerated() {
            let text = capabilities.unicode ? line : line.replacingOccurrences(of: "×", with: "x")
            grid.put(text, x: max(0, (width - text.count) / 2), y: top + n, fg: fg, bg: bg, maxWidth: width)
        }
    }

    private func drawPaneTitle(_ plane: Plane, into grid: inout CellGrid, rect: Rect) {
        guard rect.height > 0 else { return }
        let focused = state.focus.plane == plane
        let (fg, bg, attrs) = style(focused ? .paneTitleFocused : .paneTitle, .background, emphasised: focused)
        grid.fill(Rect(x: rect.x, y: rect.y, width: rect.width, height: 1), with: Cell(" ", fg: fg, bg: bg, attrs: attrs))
        let axes = PlaneAxes(plane: plane, affine: scene.ct.grid.affine)
        let n = scene.ct.grid.dims[axes.normal]
        let axisName = ["i", "j", "k"][axes.normal]
        let zoom = state.linked ? state.sharedZoom : state.planes[plane.rawValue].zoom
        // Slices count from 0, as in the status line's voxel ijk: index / last index.
        var title = (focused ? (capabilities.unicode ? "▶ " : "> ") : "  ") + plane.title
            + "  \(axisName) \(state.crosshair[axes.normal])/\(n - 1)"
        if zoom != 1 { title += String(format: "  zoom %.1f", zoom) + (state.linked ? "" : " (own)") }
        grid.put(title, x: rect.x, y: rect.y, fg: fg, bg: bg, attrs: attrs, maxWidth: rect.width)
    }

    /// Compare mode: method A's planes on the top row and method B's below (or, on a small
    /// terminal, the focused plane twice side by side), at one scale, with one colour scale and
    /// the same crosshair.
    private func drawComparedPlanes(into grid: inout CellGrid, layout: Layout) {
        let compare = compareLayout(layout: layout)
        let heat = compareHeatScale
        var b = self
        b.attribution = compareAttribution
        for (side, ex) in [self, b].enumerated() {
            let name = side == 0 ? method : compareMethod ?? ""
            for (n, plane) in compare.planes.enumerated() {
                let pane = compare.panes[side][n]
                guard pane.height > 1 else { continue }
                let focused = state.focus.plane == plane && compare.planes.count > 1
                let (fg, bg, attrs) = style(side == 0 ? .paneTitleFocused : .accent, .background, emphasised: true)
                grid.fill(Rect(x: pane.x, y: pane.y, width: pane.width, height: 1), with: Cell(" ", fg: fg, bg: bg))
                let axes = PlaneAxes(plane: plane, affine: scene.ct.grid.affine)
                let title = (focused ? (capabilities.unicode ? "▶" : ">") : " ")
                    + "\(side == 0 ? "A" : "B") \(name) · \(plane.title) \(["i", "j", "k"][axes.normal]) "
                    + "\(state.crosshair[axes.normal])/\(scene.ct.grid.dims[axes.normal] - 1)"
                    + (side == 1 && compareAttribution == nil ? (progress == nil ? " · no map yet" : " · computing…") : "")
                grid.put(painter.clean(title), x: pane.x, y: pane.y, fg: fg, bg: bg,
                         attrs: focused ? attrs.union(.underline) : attrs, maxWidth: pane.width)
                PlaneRenderer(explorer: ex, theme: theme, caps: capabilities, scale: compare.pixelsPerMM, heatScale: heat)
                    .draw(plane, into: &grid, rect: Self.image(of: pane))
            }
        }
        let (sf, sb, _) = style(.dim, .background)
        for pane in compare.panes.joined() where pane.x > 0 {
            for y in pane.y..<(pane.y + pane.height) { grid.set(pane.x - 1, y, Cell(glyphs.vertical, fg: sf, bg: sb)) }
        }
        for y in 0..<layout.sidebar.height { grid.set(layout.sidebar.x - 1, y, Cell(glyphs.vertical, fg: sf, bg: sb)) }
    }

    /// The image area of a pane (below its title row).
    static func image(of pane: Rect) -> Rect { Rect(x: pane.x, y: pane.y + 1, width: pane.width, height: pane.height - 1) }

    /// Compare mode's panes in the current layout (rendering and hit-testing share them).
    public func compareLayout(layout: Layout) -> CompareLayout {
        CompareLayout(area: Rect(x: 0, y: 0, width: max(0, layout.sidebar.x - 1), height: layout.sidebar.height),
                      extents: Plane.allCases.map { PlaneViewport.extent(of: $0, grid: scene.ct.grid) },
                      focused: state.focus.plane ?? .axial)
    }

    /// One colour scale for both methods' heatmaps in compare mode: the larger clip and threshold
    /// of the two maps (nil before either exists).
    public var compareHeatScale: HeatmapScale? {
        let maps = [attribution, compareAttribution].compactMap { $0 }
        return maps.isEmpty ? nil : HeatmapScale(shared: maps, state: state)
    }

    private func drawSeparators(into grid: inout CellGrid, layout: Layout) {
        let (fg, bg, _) = style(.dim, .background)
        let sep = glyphs.vertical
        var xs = Set([layout.sidebar.x - 1])
        for r in layout.panes where r.x > 0 { xs.insert(r.x - 1) }
        for x in xs {
            for p in layout.panes where p.x - 1 == x || x == layout.sidebar.x - 1 {
                for y in p.y..<(p.y + p.height) { grid.set(x, y, Cell(sep, fg: fg, bg: bg)) }
            }
        }
    }

    // MARK: Status and hints

    /// Status values at the crosshair (also used by the report).
    public var probe: [(String, String)] {
        let p = state.crosshair
        let grid = scene.ct.grid
        let w = grid.world(Double(p[0]), Double(p[1]), Double(p[2]))
        var out: [(String, String)] = [
            ("voxel", "\(p[0]) \(p[1]) \(p[2])"),
            ("RAS mm", String(format: "%.1f %.1f %.1f", w.x, w.y, w.z)),
            ("HU", grid.contains(p[0], p[1], p[2]) ? String(format: "%.0f", scene.ct[p[0], p[1], p[2]]) : "–"),
            ("label", scene.label(at: p).map { scene.labelName($0) } ?? "–"),
        ]
        if let a = attribution, a.map.grid.contains(p[0], p[1], p[2]) {
            let v = a.map[p[0], p[1], p[2]]
            out.append(("attribution", Fmt.signed(Double(v)) + String(format: " (p%.1f)", a.percentile(of: v))))
        } else if !methods.isEmpty {
            out.append(("attribution", progress == nil ? "–" : "computing"))
        }
        if !methods.isEmpty {
            out.append(("explain", "\(method) → \(targetName) (\(state.target)) · \(state.processing.rawValue)"))
        }
        out.append(("window", state.window.label))
        return out
    }

    /// The status fields at the crosshair with their compact forms. Priorities keep, in order:
    /// voxel, label, target and method, window, HU, attribution, world position.
    public var statusLine: StatusLine {
        let u = capabilities.unicode
        let clean = { (s: String) in u ? s : self.asciiOnly(s) }
        var fields: [StatusField] = []
        for (key, value) in probe {
            switch key {
            case "voxel": fields.append(StatusField(priority: 0, ["ijk \(value)", value]))
            case "RAS mm": fields.append(StatusField(priority: 7, ["RAS \(value) mm"]))
            case "HU": fields.append(StatusField(priority: 4, ["HU \(value)"]))
            case "label":
                let cut = value.count > 12 ? String(value.prefix(11)) + (u ? "…" : "~") : value
                fields.append(StatusField(priority: 1, [value, cut]))
            case "attribution":
                let short = value.split(separator: " ").first.map(String.init) ?? value
                fields.append(StatusField(priority: 5, ["a \(value)", "a \(short)"]))
            case "explain":
                let arrow = u ? "→" : "->"
                fields.append(StatusField(priority: 2, [
                    clean(value),
                    "\(method) \(arrow) \(targetName) · \(state.processing.rawValue)",
                    "\(Self.shortMethod(method))\(arrow)\(targetName)",
                ]))
            case "window":
                fields.append(StatusField(priority: 3, [value, "W/L \(Int(state.window.width.rounded()))/\(Int(state.window.level.rounded()))"]))
            default: fields.append(StatusField(priority: 6, [value]))
            }
        }
        if compareMethod != nil {
            let compare = compareLayout(layout: layout)
            if !compare.allPlanes, let plane = compare.planes.first {
                let name = plane.title.lowercased()
                fields.append(StatusField(priority: 2, ["compare: \(name) only, enlarge the terminal for all 3 planes",
                                                        "compare: \(name) only"]))
            }
        }
        fields = fields.map { f in StatusField(priority: f.priority, f.forms.map(clean)) }
        return StatusLine(fields: fields, progress: progressText.map(clean), separator: glyphs.separator)
    }

    /// Method names shortened for narrow status lines.
    static func shortMethod(_ m: String) -> String {
        ["gradient": "grad", "input-x-gradient": "ixg", "integrated-gradients": "IG", "smoothgrad": "SG",
         "occlusion": "occl", "kernelshap": "KSHAP"][m] ?? m
    }

    /// Progress of the running job as shown on the right of the status line.
    var progressText: String? {
        guard let progress else { return nil }
        let barWidth = 12
        let fraction = progress.shownFraction
        let filled = Int((min(max(fraction, 0), 1) * Double(barWidth)).rounded())
        let bar = String(repeating: Character(Unicode.Scalar(glyphs.full)), count: filled)
            + String(repeating: Character(Unicode.Scalar(glyphs.light)), count: barWidth - filled)
        func time(_ s: Double) -> String { s < 60 ? String(format: "%.0fs", s) : String(format: "%.0fm%02.0fs", (s / 60).rounded(.down), s.truncatingRemainder(dividingBy: 60)) }
        // Before the first step the ETA is the runtime estimate, marked with "~".
        let eta = progress.remaining.map { " ETA " + (progress.estimated ? "~" : "") + time($0) } ?? ""
        let percent = (progress.estimated ? "~" : "") + "\(Int(fraction * 100))%"
        let tail = " [\(bar)] \(percent) \(time(progress.elapsed))\(eta) Esc cancels "
        // The label gives way first, so the bar, the times and the cancel hint stay readable.
        let room = max(4, width / 2 - tail.count - 1)
        let label = progress.label.count > room ? String(progress.label.prefix(room - 1)) + "…" : progress.label
        return " " + label + tail
    }

    func asciiOnly(_ s: String) -> String { Painter.asciiOnly(s) }

    // MARK: Help

    /// Help lines generated from the key table: group headers and "keys  description" rows.
    public static func helpLines(unicode: Bool) -> [(text: String, isHeader: Bool)] {
        var out: [(String, Bool)] = []
        var group = ""
        for b in KeyTable.bindings {
            if b.group != group {
                group = b.group
                out.append((group, true))
            }
            let keys = b.keys.map { unicode ? $0.description : $0.asciiDescription }.joined(separator: " ")
            out.append((keys.rightPadded(to: 9) + " " + b.help, false))
        }
        return out
    }

    /// Help geometry for the current terminal size (see `HelpWidget.layout`).
    func helpLayout() -> (rows: Int, columns: Int, columnWidth: Int, pages: Int) {
        HelpWidget(self).layout(width: width, height: height)
    }
}
