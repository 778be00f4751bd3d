/// Everything the user can ask for. Keys map to actions through `KeyTable`; the explorer applies
/// actions and returns a `Reaction` telling the run loop what to do next.
public enum Action: Hashable, Sendable {
    case moveCrosshair(dx: Int, dy: Int)
    case stepSlice(Int)
    case focusNext, focusPrevious
    case zoomIn, zoomOut, zoomReset, toggleLink, toggleMaximize
    case pan(dx: Int, dy: Int)
    case cycleWindowPreset
    case adjustWindowWidth(Double), adjustWindowLevel(Double)
    case cycleLabelMode, cycleLabelOpacity, toggleLabelVisibility, toggleLegend, cycleCrosshair
    case toggleHeatmap, cycleHeatmapOpacity, toggleSigned, cycleClipPercentile, toggleThreshold
    case cycleProcessing, toggleBackground, toggleRankKey, toggleGlobal, cycleGlobalPage
    case nextMethod, previousMethod
    case targetUnderCrosshair, nextTarget, previousTarget
    case selectRow(Int), activateRow
    /// Crosshair to the next (+1) or previous (−1) of the strongest attribution voxels.
    case jumpToPeak(Int)
    /// Open the go-to prompt for a typed ijk or RAS position.
    case openPrompt
    case nextTheme
    /// The class × segment matrix for the current method on/off.
    case toggleMatrix
    /// Compare mode on/off, and the next method for its second side.
    case toggleCompare, nextCompareMethod
    /// Open the method options panel.
    case openMethodOptions
    /// Start a job held back by its runtime estimate.
    case confirmCompute
    /// Compute the current map again, bypassing the caches.
    case recompute
    /// Pin the running job so leaving it does not cancel it.
    case togglePin
    case export(ansi: Bool)
    case saveMap
    case toggleHelp
    case cancel
    case quit
}

/// The concern an action belongs to; `Explorer.perform` hands each group to its own handler.
public enum ActionGroup: Sendable {
    case navigation, windowing, overlays, ranking, global, views, compute, general
}

extension Action {
    public var group: ActionGroup {
        switch self {
        case .moveCrosshair, .stepSlice, .focusNext, .focusPrevious, .zoomIn, .zoomOut, .zoomReset, .toggleLink,
             .toggleMaximize, .pan, .jumpToPeak, .openPrompt:
            return .navigation
        case .cycleWindowPreset, .adjustWindowWidth, .adjustWindowLevel:
            return .windowing
        case .cycleLabelMode, .cycleLabelOpacity, .toggleLabelVisibility, .toggleLegend, .cycleCrosshair,
             .toggleHeatmap, .cycleHeatmapOpacity, .toggleSigned, .cycleClipPercentile, .toggleThreshold, .nextTheme:
            return .overlays
        case .cycleProcessing, .toggleBackground, .toggleRankKey, .nextMethod, .previousMethod,
             .targetUnderCrosshair, .nextTarget, .previousTarget, .selectRow, .activateRow:
            return .ranking
        case .toggleGlobal, .cycleGlobalPage:
            return .global
        case .toggleMatrix, .toggleCompare, .nextCompareMethod:
            return .views
        case .openMethodOptions, .confirmCompute, .recompute, .togglePin:
            return .compute
        case .export, .saveMap, .toggleHelp, .cancel, .quit:
            return .general
        }
    }
}

/// What the run loop must do after an action.
public enum Reaction: Equatable, Sendable {
    /// Nothing visible changed.
    case none
    /// Draw a new frame.
    case redraw
    /// The (method, target) changed: fetch from the cache or start a background computation.
    case recompute
    /// The terminal size changed: clear and redraw everything.
    case resize
    /// Write a text report (`ansi` adds colours).
    case export(ansi: Bool)
    /// Save the current attribution map as NIfTI on the model grid.
    case saveMap
    /// Stop the running background computation.
    case cancelComputation
    /// Confirm, recompute or pin a job (see `ComputeRequest`).
    case compute(ComputeRequest)
    case quit
}

/// One row of the key table: keys, the action, and its help text. The help overlay and the key
/// hint line are generated from this table, so they cannot drift from what the keys do.
public struct KeyBinding: Sendable {
    public var keys: [Key]
    public var action: Action
    public var help: String
    public var group: String
    /// Short label for the bottom hint line (nil = not shown there).
    public var hint: String?

    public init(_ keys: [Key], _ action: Action, _ help: String, group: String, hint: String? = nil) {
        self.keys = keys
        self.action = action
        self.help = help
        self.group = group
        self.hint = hint
    }
}

public enum KeyTable {
    public static let bindings: [KeyBinding] = [
        KeyBinding([.left, .char("h")], .moveCrosshair(dx: -1, dy: 0), "move crosshair left", group: "Navigate"),
        KeyBinding([.right, .char("l")], .moveCrosshair(dx: 1, dy: 0), "move crosshair right", group: "Navigate"),
        KeyBinding([.up, .char("k")], .moveCrosshair(dx: 0, dy: -1), "move crosshair up / previous row",
                   group: "Navigate"),
        KeyBinding([.down, .char("j")], .moveCrosshair(dx: 0, dy: 1), "move crosshair down / next row",
                   group: "Navigate", hint: "move"),
        KeyBinding([.pageUp, .char("]")], .stepSlice(1), "next slice in focused plane", group: "Navigate"),
        KeyBinding([.pageDown, .char("[")], .stepSlice(-1), "previous slice in focused plane", group: "Navigate",
                   hint: "slice"),
        KeyBinding([.tab], .focusNext, "focus next pane (planes, sidebar)", group: "Navigate", hint: "pane"),
        KeyBinding([.backTab], .focusPrevious, "focus previous pane", group: "Navigate"),
        KeyBinding([.char("+"), .char("=")], .zoomIn, "zoom in (all planes while linked)", group: "Navigate", hint: "zoom"),
        KeyBinding([.char("-")], .zoomOut, "zoom out", group: "Navigate"),
        KeyBinding([.char("0")], .zoomReset, "reset zoom and pan", group: "Navigate"),
        KeyBinding([.char("u")], .toggleLink, "link / unlink zoom and pan across planes", group: "Navigate"),
        KeyBinding([.char("f")], .toggleMaximize, "focused plane fills the image area (again: all planes)",
                   group: "Navigate", hint: "full"),
        KeyBinding([.char("H")], .pan(dx: -1, dy: 0), "pan left", group: "Navigate"),
        KeyBinding([.char("L")], .pan(dx: 1, dy: 0), "pan right", group: "Navigate"),
        KeyBinding([.char("K")], .pan(dx: 0, dy: -1), "pan up", group: "Navigate"),
        KeyBinding([.char("J")], .pan(dx: 0, dy: 1), "pan down", group: "Navigate"),
        KeyBinding([.enter], .activateRow, "sidebar: highlight segment, jump into it near its centroid",
                   group: "Navigate"),

        KeyBinding([.char("z")], .jumpToPeak(1), "jump to the attribution maximum (again: next of top 10 peaks)",
                   group: "Navigate"),
        KeyBinding([.char("Z")], .jumpToPeak(-1), "previous attribution peak", group: "Navigate"),
        KeyBinding([.char(":")], .openPrompt, "go to a typed position (i j k, or x y z mm in RAS)", group: "Navigate"),

        KeyBinding([.char("w")], .cycleWindowPreset, "cycle CT window preset", group: "Display", hint: "window"),
        KeyBinding([.char("<")], .adjustWindowWidth(-0.1), "narrower window (−10%)", group: "Display"),
        KeyBinding([.char(">")], .adjustWindowWidth(0.1), "wider window (+10%)", group: "Display"),
        KeyBinding([.char("{")], .adjustWindowLevel(-20), "lower level (−20 HU)", group: "Display"),
        KeyBinding([.char("}")], .adjustWindowLevel(20), "raise level (+20 HU)", group: "Display"),
        KeyBinding([.char("o")], .cycleLabelMode, "labels: auto / fill / outline / off", group: "Display",
                   hint: "labels"),
        KeyBinding([.char("O")], .cycleLabelOpacity, "label opacity", group: "Display"),
        KeyBinding([.char("v")], .toggleLabelVisibility, "hide / show the selected segment's label", group: "Display"),
        KeyBinding([.char("V")], .toggleLegend, "sidebar: label legend / ranking", group: "Display"),
        KeyBinding([.char("c")], .cycleCrosshair, "crosshair: line / edge ticks / hidden", group: "Display"),
        KeyBinding([.char("a")], .toggleHeatmap, "attribution heatmap on/off", group: "Display", hint: "heatmap"),
        KeyBinding([.char("A")], .cycleHeatmapOpacity, "heatmap opacity", group: "Display"),
        KeyBinding([.char("s")], .toggleSigned, "heatmap: signed (diverging) / processed", group: "Display"),
        KeyBinding([.char("%")], .cycleClipPercentile, "heatmap percentile clipping", group: "Display"),
        KeyBinding([.char("x")], .toggleThreshold, "hide |a| ≤ 1% of max on/off", group: "Display"),
        KeyBinding([.char("T")], .nextTheme, "next theme", group: "Display"),

        KeyBinding([.char("m")], .nextMethod, "next attribution method", group: "Explain", hint: "method"),
        KeyBinding([.char("M")], .previousMethod, "previous method", group: "Explain"),
        KeyBinding([.char("t")], .targetUnderCrosshair, "target = segment under crosshair", group: "Explain",
                   hint: "target"),
        KeyBinding([.char("n")], .nextTarget, "next target class", group: "Explain"),
        KeyBinding([.char("N")], .previousTarget, "previous target class", group: "Explain"),
        KeyBinding([.char("p")], .cycleProcessing, "processing abs / pos / neg", group: "Explain", hint: "abs/pos/neg"),
        KeyBinding([.char("b")], .toggleBackground, "background row shown / hidden", group: "Explain"),
        KeyBinding([.char("r")], .toggleRankKey, "rank by mass / mean", group: "Explain"),
        KeyBinding([.char("g")], .toggleGlobal, "sidebar: this scan / global box plots", group: "Explain"),
        KeyBinding([.char("G")], .cycleGlobalPage, "global analysis pages (G again: next)", group: "Explain"),
        KeyBinding([.char("X")], .toggleMatrix, "class × segment matrix, computing its missing targets (Enter jumps)",
                   group: "Explain"),
        KeyBinding([.char("C")], .toggleCompare, "compare two methods in all three planes, with Spearman ρ",
                   group: "Explain"),
        KeyBinding([.char("B")], .nextCompareMethod, "compare: next second method", group: "Explain"),
        KeyBinding([.char("i"), .function(2)], .openMethodOptions,
                   "method options panel (↑↓ choose, ←→ change, Enter applies)", group: "Explain"),
        KeyBinding([.char("y")], .confirmCompute, "start a job held back by its estimate (in the matrix: its batch)", group: "Explain"),
        KeyBinding([.char("R")], .recompute, "recompute the shown map (bypasses the caches)", group: "Explain"),
        KeyBinding([.char("P")], .togglePin, "pin / unpin the running job (pinned: runs on when you leave it)",
                   group: "Explain"),

        KeyBinding([.char("e")], .export(ansi: false), "export text report (UTF-8)", group: "General",
                   hint: "export"),
        KeyBinding([.char("E")], .export(ansi: true), "export report with ANSI colours", group: "General"),
        KeyBinding([.char("S")], .saveMap, "save the attribution map (NIfTI, model grid)", group: "General"),
        KeyBinding([.char("?"), .function(1)], .toggleHelp, "this help", group: "General", hint: "help"),
        KeyBinding([.escape], .cancel, "cancel computation / close help or page", group: "General"),
        KeyBinding([.char("q")], .quit, "quit", group: "General", hint: "quit"),
    ]

    private static let index: [Key: Action] = {
        var map: [Key: Action] = [:]
        for b in bindings { for k in b.keys where map[k] == nil { map[k] = b.action } }
        return map
    }()

    public static func action(for key: Key) -> Action? { index[key] }
}
