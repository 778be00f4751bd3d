import Engine

/// The status line: the probe fields compacted by priority, and the running job's progress on the right.
public struct StatusBarWidget: Widget {
    public var line: StatusLine
    var painter: Painter

    public init(_ explorer: Explorer) {
        line = explorer.statusLine
        painter = explorer.painter
    }

    public func render(into grid: inout CellGrid, rect: Rect) {
        let (fg, bg, _) = painter.style(.statusForeground, .statusBackground)
        let (pf, _, _) = painter.style(.progress, .statusBackground)
        line.render(into: &grid, area: rect, fg: fg, bg: bg, progressFg: pf)
    }
}

/// The bottom line: the go-to prompt while it is open, else the last message, else key hints
/// generated from the key table (as many as fit).
public struct KeyHintsWidget: Widget {
    public var prompt: String?
    public var message: StatusMessage?
    var painter: Painter

    public init(_ explorer: Explorer) {
        prompt = explorer.state.prompt
        message = explorer.state.message
        painter = explorer.painter
    }

    public func render(into grid: inout CellGrid, rect: Rect) {
        let (fg, bg, _) = painter.style(.hintsForeground, .hintsBackground)
        let unicode = painter.capabilities.unicode
        grid.fill(rect, with: Cell(" ", fg: fg, bg: bg))
        if let prompt {
            let (kf, kb, _) = painter.style(.hintsKey, .hintsBackground)
            let label = " Go to (i j k, or x y z mm): "
            let x = rect.x + grid.put(label, x: rect.x, y: rect.y, fg: kf, bg: kb, attrs: .bold, maxWidth: rect.width)
            let shown = unicode ? prompt + "▏" : Painter.asciiOnly(prompt) + "_"
            grid.put(shown, x: x, y: rect.y, fg: fg, bg: bg, maxWidth: max(0, rect.x + rect.width - x))
            return
        }
        if let message {
            let (mf, mb, _) = painter.style(message.isError ? .error : .accent, .hintsBackground)
            grid.put(painter.clean(" " + message.text), x: rect.x, y: rect.y, fg: mf, bg: mb, attrs: .bold,
                     maxWidth: rect.width)
            return
        }
        let (kf, kb, _) = painter.style(.hintsKey, .hintsBackground)
        var x = rect.x + 1
        for b in KeyTable.bindings {
            guard let hint = b.hint else { continue }
            let keys = b.keys.prefix(b.keys.count > 1 && Self.isShort(b.keys[1]) ? 2 : 1)
                .map { unicode ? $0.description : $0.asciiDescription }.joined(separator: "/")
            let needed = keys.count + hint.count + 3
            guard x + needed <= rect.x + rect.width else { break }
            x += grid.put(keys, x: x, y: rect.y, fg: kf, bg: kb, attrs: .bold)
            x += grid.put(" " + hint + "  ", x: x, y: rect.y, fg: fg, bg: bg)
        }
    }

    private static func isShort(_ k: Key) -> Bool { if case .char = k { return true } else { return false } }
}
