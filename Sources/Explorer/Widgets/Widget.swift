import Engine

/// A part of the screen as a value: built from the explorer state it shows, it draws into any
/// rectangle of a grid and nothing else, so each widget can be rendered and snapshot-tested alone.
public protocol Widget {
    func render(into grid: inout CellGrid, rect: Rect)
}

/// Turns theme roles into cell colours for the terminal at hand, and text into what it can show.
public struct Painter: Sendable {
    public var theme: Theme
    public var capabilities: RenderCapabilities

    public init(theme: Theme, capabilities: RenderCapabilities) {
        self.theme = theme
        self.capabilities = capabilities
    }

    /// Foreground/background/attributes for text, with reverse video standing in for highlight
    /// colours on monochrome terminals.
    func style(_ fg: ThemeRole, _ bg: ThemeRole, emphasised: Bool = false) -> (RGB, RGB, CellAttributes) {
        if !capabilities.depth.hasColor { return (.white, .black, emphasised ? [.reverse] : []) }
        return (theme[fg], theme[bg], emphasised ? [.bold] : [])
    }

    var glyphs: (vertical: Unicode.Scalar, horizontal: Unicode.Scalar, full: Unicode.Scalar, light: Unicode.Scalar,
                 separator: String) {
        capabilities.unicode ? ("│", "─", "█", "░", " │ ") : ("|", "-", "#", ".", " | ")
    }

    /// `s` as the locale can draw it: unchanged in UTF-8, else with ASCII stand-ins.
    func clean(_ s: String) -> String { capabilities.unicode ? s : Self.asciiOnly(s) }

    static func asciiOnly(_ s: String) -> String {
        let map: [Character: String] = ["→": "->", "·": "-", "│": "|", "×": "x", "–": "-", "▶": ">", "…": "...",
                                        "Δ": "delta", "≈": "~", "Σ": "Sum"]
        return String(s.flatMap { c -> String in
            if let r = map[c] { return r }
            return c.isASCII ? String(c) : "?"
        })
    }

    /// A horizontal bar with eighth-block resolution (whole blocks in ASCII).
    func bar(_ fraction: Double, width: Int) -> String {
        let f = min(max(fraction.isFinite ? fraction : 0, 0), 1)
        guard capabilities.unicode else { return String(repeating: "#", count: Int((f * Double(width)).rounded())) }
        let eighths = Int((f * Double(width) * 8).rounded())
        let partial: [Character] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"].map { $0.first ?? " " }
        var s = String(repeating: "█", count: eighths / 8)
        if eighths % 8 > 0 { s.append(partial[eighths % 8]) }
        return s
    }

    /// A framed box filled with the overlay background, with a centred title on its top edge.
    func drawBox(_ box: Rect, title: String, into grid: inout CellGrid) {
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
        let shown = clean(title)
        grid.put(shown, x: box.x + max(1, (box.width - shown.count) / 2), y: box.y, fg: hf, bg: bg, attrs: ha,
                 maxWidth: max(0, box.width - 2))
    }
}
