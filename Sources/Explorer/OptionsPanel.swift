import Engine

/// The method options panel as a widget value: the options of one method with their values, the
/// selected row, and the `agg2exp explain` line that reproduces the draft; renders into a rect.
public struct OptionsPanel: Sendable {
    public struct Row: Equatable, Sendable {
        public var title: String
        public var value: String
        /// The draft differs from the applied setting.
        public var changed: Bool

        public init(title: String, value: String, changed: Bool) {
            self.title = title
            self.value = value
            self.changed = changed
        }
    }

    /// Colours by role, resolved from the theme (monochrome: reverse video marks the selection).
    public struct Palette: Sendable {
        public var text, background, border, accent, dim, selectionText, selectionBackground: RGB
        public var selectionAttributes: CellAttributes
    }

    public var method: String
    public var rows: [Row]
    public var selected: Int
    public var command: String
    public var unicode: Bool

    /// Rows the panel needs inside `width` columns: borders, gap, options, gap, "Command line:",
    /// the command, gap, keys.
    public func height(width: Int) -> Int {
        rows.count + commandLines(width: width).count + 6
    }

    func commandLines(width: Int) -> [String] {
        Explorer.wrap(command, width: max(1, width - 4))
    }

    public func render(into grid: inout CellGrid, area box: Rect, palette p: Palette) {
        guard box.width > 8, box.height > 4 else { return }
        grid.fill(box, with: Cell(" ", fg: p.text, bg: p.background))
        let (h, v): (Unicode.Scalar, Unicode.Scalar) = unicode ? ("─", "│") : ("-", "|")
        for x in box.x..<(box.x + box.width) {
            grid.set(x, box.y, Cell(h, fg: p.border, bg: p.background))
            grid.set(x, box.y + box.height - 1, Cell(h, fg: p.border, bg: p.background))
        }
        for y in box.y..<(box.y + box.height) {
            grid.set(box.x, y, Cell(v, fg: p.border, bg: p.background))
            grid.set(box.x + box.width - 1, y, Cell(v, fg: p.border, bg: p.background))
        }
        let clean = { (s: String) in self.unicode ? s : Self.ascii(s) }
        let title = clean(" Method options · \(method) ")
        grid.put(title, x: box.x + max(1, (box.width - title.count) / 2), y: box.y, fg: p.accent, bg: p.background,
                 attrs: .bold, maxWidth: box.width - 2)
        let inner = box.width - 4
        let titleW = (rows.map(\.title.count).max() ?? 8) + 2
        var y = box.y + 2
        let bottom = box.y + box.height - 1
        for (i, row) in rows.enumerated() where y < bottom {
            let isSelected = i == selected
            let (fg, bg, attrs) = isSelected ? (p.selectionText, p.selectionBackground, p.selectionAttributes)
                : (p.text, p.background, CellAttributes())
            grid.fill(Rect(x: box.x + 1, y: y, width: box.width - 2, height: 1), with: Cell(" ", fg: fg, bg: bg, attrs: attrs))
            let marker = isSelected ? (unicode ? "▶ " : "> ") : "  "
            let value = (unicode ? "◀ " : "< ") + row.value + (unicode ? " ▶" : " >") + (row.changed ? " *" : "")
            grid.put(clean(marker + row.title.rightPadded(to: titleW) + value), x: box.x + 2, y: y, fg: fg, bg: bg,
                     attrs: attrs, maxWidth: inner)
            y += 1
        }
        y += 1
        if y < bottom {
            grid.put("Command line:", x: box.x + 2, y: y, fg: p.dim, bg: p.background, maxWidth: inner)
            y += 1
        }
        for line in commandLines(width: box.width) where y < bottom - 1 {
            grid.put(clean(line), x: box.x + 2, y: y, fg: p.text, bg: p.background, maxWidth: inner)
            y += 1
        }
        let keys = clean("↑↓ choose · ←→ change · Enter applies (* = changed) · Esc closes")
        grid.put(keys, x: box.x + 2, y: bottom - 1, fg: p.dim, bg: p.background, maxWidth: inner)
    }

    static func ascii(_ s: String) -> String {
        let map: [Character: String] = ["·": "-", "→": "->", "↑": "^", "↓": "v", "←": "<", "σ": "sigma",
                                        "◀": "<", "▶": ">", "…": "..."]
        return String(s.flatMap { c -> String in map[c] ?? (c.isASCII ? String(c) : "?") })
    }
}

extension Explorer {
    /// The options panel of the current method, built from the view state.
    public var optionsPanel: OptionsPanel? {
        guard let panel = state.compute.panel else { return nil }
        let options = MethodOption.rows(for: method)
        let applied = state.compute.settings
        let rows = options.map { o in
            OptionsPanel.Row(title: o.title, value: o.value(in: panel.draft, method: method),
                             changed: o.value(in: panel.draft, method: method) != o.value(in: applied, method: method))
        }
        return OptionsPanel(method: method, rows: rows, selected: min(panel.row, max(0, rows.count - 1)),
                            command: explainCommand(settings: panel.draft), unicode: capabilities.unicode)
    }

    func drawOptionsPanel(into grid: inout CellGrid) {
        guard let panel = optionsPanel else { return }
        let (fg, bg, _) = style(.foreground, .overlayBackground)
        let (bf, _, _) = style(.overlayBorder, .overlayBackground)
        let (af, _, _) = style(.accent, .overlayBackground)
        let (df, _, _) = style(.dim, .overlayBackground)
        let (sf, sb, sa) = style(.selectionForeground, .selectionBackground, emphasised: true)
        let w = min(width - 2, 76)
        let h = min(height - 2, panel.height(width: w))
        let box = Rect(x: (width - w) / 2, y: max(0, (height - h) / 2), width: w, height: h)
        panel.render(into: &grid, area: box, palette: OptionsPanel.Palette(
            text: fg, background: bg, border: bf, accent: af, dim: df, selectionText: sf, selectionBackground: sb,
            selectionAttributes: sa))
    }
}
