import Engine
import Foundation

/// A colour map: evenly spaced stops, sampled by linear interpolation through a 256-entry table.
public struct Colormap: Equatable, Sendable {
    public let stops: [RGB]
    private let table: [RGB]

    public init(stops: [RGB]) {
        let stops = stops.isEmpty ? [.black, .white] : stops.count == 1 ? [stops[0], stops[0]] : stops
        self.stops = stops
        table = (0..<256).map { i in
            let t = Double(i) / 255 * Double(stops.count - 1)
            let lo = min(Int(t), stops.count - 2)
            return stops[lo].mixed(with: stops[lo + 1], t - Double(lo))
        }
    }

    /// Colour at `t` in 0...1 (clamped).
    @inline(__always)
    public func color(at t: Double) -> RGB {
        let t = t.isFinite ? min(max(t, 0), 1) : 0
        return table[Int(t * 255 + 0.5)]
    }

    public static func == (a: Colormap, b: Colormap) -> Bool { a.stops == b.stops }

    /// True when every stop is a grey (the monochrome theme), so colour cannot tell it from CT.
    public var isGreyscale: Bool { stops.allSatisfy(\.isGrey) }
}

/// Semantic colour roles. Widgets ask for a role, never for a literal colour, so themes can
/// restyle everything (htop's colour elements, btop's theme keys).
public enum ThemeRole: String, CaseIterable, Sendable {
    case background, foreground, dim, accent
    case paneTitle = "pane.title", paneTitleFocused = "pane.title.focused", paneEmpty = "pane.empty"
    case orientation, crosshair, highlight, targetOutline = "target.outline"
    /// Text of the highlighted segment in lists (the outline colour may not read on a light background).
    case highlightText = "highlight.text"
    case statusBackground = "status.background", statusForeground = "status.foreground"
    case hintsBackground = "hints.background", hintsForeground = "hints.foreground", hintsKey = "hints.key"
    case sidebarBackground = "sidebar.background", selectionBackground = "selection.background"
    case selectionForeground = "selection.foreground"
    case barPositive = "bar.positive", barNegative = "bar.negative"
    case progress, error, warning
    case overlayBackground = "overlay.background", overlayBorder = "overlay.border"
}

/// A named set of role colours, colormap stops and a label palette, loaded from a data file.
///
/// Theme files are `key = value` lines (lines starting with `#` are comments): role keys take `#rrggbb`,
/// `colormap.sequential`, `colormap.diverging` and `labels` take space-separated colours.
/// Missing keys fall back to the built-in dark defaults, so a theme can override just a few roles.
public struct Theme: Equatable, Sendable {
    public var name: String
    public var roles: [ThemeRole: RGB]
    public var sequential: Colormap
    public var diverging: Colormap
    public var labelPalette: [RGB]

    public subscript(role: ThemeRole) -> RGB { roles[role] ?? Theme.builtIn.roles[role] ?? .white }

    /// Colour of label `label` from the palette (labels cycle through it; 0 is never drawn).
    public func labelColor(_ label: Int32) -> RGB {
        guard !labelPalette.isEmpty else { return .white }
        let n = labelPalette.count
        // Floor modulo, so negative labels cycle too.
        return labelPalette[((Int(label) - 1) % n + n) % n]
    }

    /// The dark defaults every theme inherits.
    public static let builtIn = Theme(
        name: "default",
        roles: [
            .background: RGB(0x10, 0x12, 0x16), .foreground: RGB(0xd8, 0xdc, 0xe2), .dim: RGB(0x7a, 0x80, 0x8a),
            .accent: RGB(0x5f, 0xaf, 0xff), .paneTitle: RGB(0x9a, 0xa0, 0xaa),
            .paneTitleFocused: RGB(0xff, 0xd7, 0x5f), .paneEmpty: RGB(0x00, 0x00, 0x00),
            .orientation: RGB(0xff, 0xd7, 0x5f), .crosshair: RGB(0xe8, 0xe8, 0xe8), .highlight: RGB(0xff, 0x4d, 0xff),
            .highlightText: RGB(0xff, 0x4d, 0xff), .targetOutline: RGB(0x00, 0xff, 0xff),
            .statusBackground: RGB(0x26, 0x2a, 0x33), .statusForeground: RGB(0xe8, 0xea, 0xee),
            .hintsBackground: RGB(0x10, 0x12, 0x16), .hintsForeground: RGB(0x9a, 0xa0, 0xaa),
            .hintsKey: RGB(0x5f, 0xaf, 0xff), .sidebarBackground: RGB(0x16, 0x19, 0x1f),
            .selectionBackground: RGB(0x3a, 0x4a, 0x6a), .selectionForeground: RGB(0xff, 0xff, 0xff),
            .barPositive: RGB(0xef, 0x8a, 0x3c), .barNegative: RGB(0x4a, 0x90, 0xd9),
            .progress: RGB(0x5f, 0xd7, 0x87), .error: RGB(0xff, 0x5f, 0x5f), .warning: RGB(0xff, 0xaf, 0x00),
            .overlayBackground: RGB(0x1c, 0x20, 0x28), .overlayBorder: RGB(0x5f, 0xaf, 0xff),
        ],
        sequential: Colormap(stops: [RGB(0x00, 0x00, 0x04), RGB(0x51, 0x12, 0x7c), RGB(0xb7, 0x37, 0x79),
                                     RGB(0xfc, 0x89, 0x61), RGB(0xfc, 0xfd, 0xbf)]),
        diverging: Colormap(stops: [RGB(0x21, 0x66, 0xac), RGB(0x92, 0xc5, 0xde), RGB(0xf7, 0xf7, 0xf7),
                                    RGB(0xf4, 0xa5, 0x82), RGB(0xb2, 0x18, 0x2b)]),
        // Categorical label colours kept clear of both heatmap maps (no yellow, orange, red,
        // purple, blue, white or black) and of the reserved target and highlight colours.
        labelPalette: [RGB(0x3c, 0xb4, 0x4b), RGB(0xbf, 0xef, 0x45), RGB(0x80, 0x80, 0x00), RGB(0x2e, 0x8b, 0x57),
                       RGB(0x9a, 0x63, 0x24), RGB(0x00, 0xa8, 0x6b), RGB(0x98, 0xfb, 0x98), RGB(0x6b, 0x8e, 0x23),
                       RGB(0xb5, 0xa6, 0x42), RGB(0x01, 0x79, 0x6f), RGB(0x8f, 0xbc, 0x8f), RGB(0x7c, 0xfc, 0x00)])

    /// Parses a theme file. Unknown keys and malformed colours are errors naming the file and line.
    public static func parse(_ text: String, name: String, source: String) throws -> Theme {
        var theme = builtIn
        theme.name = name
        for (n, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = rawLine.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            func fail(_ why: String) -> ThemeError { ThemeError(source: source, line: n + 1, problem: why) }
            let parts = trimmed.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { throw fail("expected 'key = value'") }
            let key = parts[0]
            let colors = try parts[1].split(separator: " ").map { token -> RGB in
                guard let c = RGB(hex: String(token)) else { throw fail("'\(token)' is not a #rrggbb colour") }
                return c
            }
            switch key {
            case "colormap.sequential", "colormap.diverging", "labels":
                guard colors.count >= 2 else { throw fail("\(key) needs at least two colours") }
                if key == "labels" { theme.labelPalette = colors }
                else if key == "colormap.sequential" { theme.sequential = Colormap(stops: colors) }
                else { theme.diverging = Colormap(stops: colors) }
            default:
                guard let role = ThemeRole(rawValue: key) else { throw fail("unknown key '\(key)'") }
                guard colors.count == 1 else { throw fail("\(key) takes one colour") }
                theme.roles[role] = colors[0]
            }
        }
        return theme
    }

    /// Loads `name.theme` from the first directory that has it.
    public static func load(named name: String, searchPaths: [URL]) throws -> Theme {
        for dir in searchPaths {
            let url = dir.appendingPathComponent(name + ".theme")
            if let data = FileManager.default.contents(atPath: url.path) {
                guard let text = String(data: data, encoding: .utf8) else {
                    throw ThemeError(source: url.path, line: 0, problem: "not UTF-8 text")
                }
                return try parse(text, name: name, source: url.path)
            }
        }
        if name == builtIn.name { return builtIn }
        throw ThemeError(source: name, line: 0, problem: "no theme file '\(name).theme' in "
            + (searchPaths.isEmpty ? "any search path" : searchPaths.map(\.path).joined(separator: ", ")))
    }

    /// Theme names available in the search paths (sorted, `default` first), plus the built-in one.
    public static func available(in searchPaths: [URL]) -> [String] {
        var names = Set([builtIn.name])
        for dir in searchPaths {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            for f in files where f.hasSuffix(".theme") { names.insert(String(f.dropLast(6))) }
        }
        return names.sorted { ($0 == builtIn.name ? "" : $0) < ($1 == builtIn.name ? "" : $1) }
    }
}

/// A theme file problem, naming the file and line.
public struct ThemeError: Error, CustomStringConvertible, Equatable {
    public var source: String
    public var line: Int
    public var problem: String
    public var description: String { line > 0 ? "\(source):\(line): \(problem)" : "\(source): \(problem)" }
}
