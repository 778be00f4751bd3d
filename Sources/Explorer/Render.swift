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
        let planes = PlaneRenderer(explorer: self, theme: theme, caps: capabilities, scale: layout.pixelsPerMM)
        for plane in Plane.allCases {
            drawPaneTitle(plane, into: &grid, rect: layout.panes[plane.rawValue])
            planes.draw(plane, into: &grid, rect: layout.image(of: plane))
        }
        drawSeparators(into: &grid, layout: layout)
        drawSidebar(into: &grid, rect: layout.sidebar)
        drawStatus(into: &grid, rect: layout.status)
        drawHints(into: &grid, rect: layout.hints)
        if let page = state.globalPage { drawGlobalPage(page, into: &grid) }
        if state.compute.panel != nil { drawOptionsPanel(into: &grid) }
        if state.helpVisible { drawHelp(into: &grid) }
        return grid
    }

    var glyphs: (vertical: Unicode.Scalar, horizontal: Unicode.Scalar, full: Unicode.Scalar, light: Unicode.Scalar,
                 separator: String) {
        capabilities.unicode ? ("│", "─", "█", "░", " │ ") : ("|", "-", "#", ".", " | ")
    }

    /// Foreground/background/attributes for text, with reverse video standing in for highlight
    /// colours on monochrome terminals.
    func style(_ fg: ThemeRole, _ bg: ThemeRole, emphasised: Bool = false) -> (RGB, RGB, CellAttributes) {
        let theme = self.theme
        if !capabilities.depth.hasColor { return (.white, .black, emphasised ? [.reverse] : []) }
        return (theme[fg], theme[bg], emphasised ? [.bold] : [])
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
        // A job that has not finished its first step (one window of a one-window model can take
        // seconds) advances by the clock against its runtime estimate, marked with "~".
        var fraction = progress.fraction
        if progress.estimated, let left = progress.remaining, progress.elapsed + left > 0 {
            fraction = min(0.99, progress.elapsed / (progress.elapsed + left))
        }
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

    private func drawStatus(into grid: inout CellGrid, rect: Rect) {
        let (fg, bg, _) = style(.statusForeground, .statusBackground)
        let (pf, _, _) = style(.progress, .statusBackground)
        statusLine.render(into: &grid, area: rect, fg: fg, bg: bg, progressFg: pf)
    }

    private func drawHints(into grid: inout CellGrid, rect: Rect) {
        let (fg, bg, _) = style(.hintsForeground, .hintsBackground)
        grid.fill(rect, with: Cell(" ", fg: fg, bg: bg))
        if let prompt = state.prompt {
            let (kf, kb, _) = style(.hintsKey, .hintsBackground)
            let label = " Go to (i j k, or x y z mm): "
            let x = rect.x + grid.put(label, x: rect.x, y: rect.y, fg: kf, bg: kb, attrs: .bold, maxWidth: rect.width)
            let shown = capabilities.unicode ? prompt + "▏" : asciiOnly(prompt) + "_"
            grid.put(shown, x: x, y: rect.y, fg: fg, bg: bg, maxWidth: max(0, rect.x + rect.width - x))
            return
        }
        if let message = state.message {
            let (mf, mb, _) = style(message.isError ? .error : .accent, .hintsBackground)
            let text = capabilities.unicode ? " " + message.text : asciiOnly(" " + message.text)
            grid.put(text, x: rect.x, y: rect.y, fg: mf, bg: mb, attrs: .bold, maxWidth: rect.width)
            return
        }
        let (kf, kb, _) = style(.hintsKey, .hintsBackground)
        var x = rect.x + 1
        for b in KeyTable.bindings {
            guard let hint = b.hint else { continue }
            let keys = b.keys.prefix(b.keys.count > 1 && hintKeyIsShort(b.keys[1]) ? 2 : 1)
                .map { capabilities.unicode ? $0.description : $0.asciiDescription }.joined(separator: "/")
            let needed = keys.count + hint.count + 3
            guard x + needed <= rect.x + rect.width else { break }
            x += grid.put(keys, x: x, y: rect.y, fg: kf, bg: kb, attrs: .bold)
            x += grid.put(" " + hint + "  ", x: x, y: rect.y, fg: fg, bg: bg)
        }
    }

    private func hintKeyIsShort(_ k: Key) -> Bool { if case .char = k { return true } else { return false } }

    func asciiOnly(_ s: String) -> String {
        let map: [Character: String] = ["→": "->", "·": "-", "│": "|", "×": "x", "–": "-", "▶": ">", "…": "...",
                                        "Δ": "delta", "≈": "~"]
        return String(s.flatMap { c -> String in
            if let r = map[c] { return r }
            return c.isASCII ? String(c) : "?"
        })
    }

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

    /// Help geometry: as many columns as fit side by side without cutting a line, and pages when
    /// they cannot hold every line (small terminals).
    func helpLayout() -> (rows: Int, columns: Int, columnWidth: Int, pages: Int) {
        let lines = Self.helpLines(unicode: capabilities.unicode)
        let columnWidth = (lines.map(\.text.count).max() ?? 1) + 2
        let rows = max(1, min(height - 2, lines.count + 4) - 4)
        let fit = max(1, (width - 5) / columnWidth)
        let columns = min(fit, (lines.count + rows - 1) / rows)
        return (rows, columns, columnWidth, (lines.count + rows * columns - 1) / (rows * columns))
    }

    private func drawHelp(into grid: inout CellGrid) {
        let lines = Self.helpLines(unicode: capabilities.unicode)
        let (rows, columns, columnWidth, pages) = helpLayout()
        let page = min(state.helpPage, pages - 1)
        let boxH = min(height - 2, rows + 4)
        let boxW = min(width - 2, columns * columnWidth + 3)
        let colW = max(1, (boxW - 3) / columns)
        let box = Rect(x: (width - boxW) / 2, y: (height - boxH) / 2, width: boxW, height: boxH)
        let (fg, bg, _) = style(.foreground, .overlayBackground)
        let (bf, _, _) = style(.overlayBorder, .overlayBackground)
        let (hf, _, ha) = style(.accent, .overlayBackground, emphasised: true)
        grid.fill(box, with: Cell(" ", fg: fg, bg: bg))
        let g = glyphs
        for x in box.x..<(box.x + box.width) {
            grid.set(x, box.y, Cell(g.horizontal, fg: bf, bg: bg))
            grid.set(x, box.y + box.height - 1, Cell(g.horizontal, fg: bf, bg: bg))
        }
        for y in box.y..<(box.y + box.height) {
            grid.set(box.x, y, Cell(g.vertical, fg: bf, bg: bg))
            grid.set(box.x + box.width - 1, y, Cell(g.vertical, fg: bf, bg: bg))
        }
        let title = pages > 1 ? " Keys \(page + 1)/\(pages) (Space: next page, other keys close) "
            : " Keys (any key closes) "
        grid.put(title, x: box.x + max(1, (box.width - title.count) / 2), y: box.y, fg: hf, bg: bg, attrs: ha)
        for (n, line) in lines.enumerated().dropFirst(page * rows * columns) {
            let slot = n - page * rows * columns
            let col = slot / rows, row = slot % rows
            guard col < columns else { break }
            let x = box.x + 2 + col * colW, y = box.y + 2 + row
            let text = capabilities.unicode ? line.text : asciiOnly(line.text)
            grid.put(text, x: x, y: y, fg: line.isHeader ? hf : fg, bg: bg, attrs: line.isHeader ? ha : [],
                     maxWidth: colW - 1)
        }
    }
}
