import Engine

/// One status value with the forms it can shrink to, and how important it is.
public struct StatusField: Equatable, Sendable {
    /// Lower numbers are kept longest.
    public var priority: Int
    /// Longest form first; the line uses the longest form that fits, or drops the field.
    public var forms: [String]

    public init(priority: Int, _ forms: [String]) {
        self.priority = priority
        self.forms = forms
    }
}

/// The status line as a widget value: fields compacted by priority to fit a width (shorter forms
/// first, then dropping the least important), never cut mid-field; a progress text on the right.
public struct StatusLine: Sendable {
    public var fields: [StatusField]
    public var progress: String?
    public var separator: String

    public init(fields: [StatusField], progress: String? = nil, separator: String = " │ ") {
        self.fields = fields
        self.progress = progress
        self.separator = separator
    }

    /// The text for `width` columns: field forms chosen so the most important fields stay.
    public func text(width: Int) -> String {
        // Current form index per field (nil = dropped).
        var choice: [Int?] = fields.map { _ in 0 }
        func line() -> String {
            " " + zip(fields, choice).compactMap { f, c in c.map { f.forms[$0] } }.joined(separator: separator)
        }
        // First every field takes its shorter forms, least important first; only then are
        // fields dropped, least important first.
        let order = fields.indices.sorted { fields[$0].priority > fields[$1].priority }
        while line().count > width {
            if let i = order.first(where: { f in choice[f].map { $0 + 1 < fields[f].forms.count } ?? false }) {
                choice[i]! += 1
            } else if let i = order.first(where: { choice[$0] != nil }) {
                choice[i] = nil
            } else {
                break
            }
        }
        return line()
    }

    public func render(into grid: inout CellGrid, area: Rect, fg: RGB, bg: RGB, progressFg: RGB) {
        grid.fill(area, with: Cell(" ", fg: fg, bg: bg))
        var room = area.width
        if let progress {
            let p = String(progress.prefix(max(0, area.width / 2)))
            grid.put(p, x: area.x + area.width - p.count, y: area.y, fg: progressFg, bg: bg, attrs: [.bold])
            room -= p.count + 1
        }
        grid.put(text(width: room), x: area.x, y: area.y, fg: fg, bg: bg, maxWidth: max(0, room))
    }
}
