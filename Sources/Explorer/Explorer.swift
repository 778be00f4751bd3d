import Foundation
import Engine

/// Which pane has the keyboard focus.
public enum Focus: Int, CaseIterable, Sendable {
    case axial, coronal, sagittal, sidebar

    public var plane: Plane? { Plane(rawValue: rawValue) }
}

/// How labels are drawn. `auto` outlines them while the heatmap is shown (so label colours never
/// compete with attribution colours) and fills them otherwise.
public enum LabelMode: String, CaseIterable, Sendable {
    case auto, fill, outline, off
}

/// The crosshair: a thin line with a gap at the probed voxel, ticks at the pane edges, or hidden.
public enum CrosshairMode: String, CaseIterable, Sendable {
    case line, ticks, off
}

/// What the sidebar lists: the Agg²Exp ranking, or the label legend with per-label visibility.
public enum SidebarMode: String, Sendable {
    case ranking, legend
}

public enum RankKey: String, Sendable {
    case mass, mean
}

/// Per-plane zoom factor and view centre (display millimetres; nil = slice centre).
public struct PlaneView: Equatable, Sendable {
    public var zoom: Double = 1
    public var center: [Double]? = nil

    public init() {}
}

/// A transient line for the status area (export paths, errors).
public struct StatusMessage: Equatable, Sendable {
    public var text: String
    public var isError: Bool

    public init(_ text: String, isError: Bool = false) {
        self.text = text
        self.isError = isError
    }
}

/// Background work shown as a progress bar.
public struct ProgressState: Equatable, Sendable {
    public var label: String
    public var fraction: Double
    /// Seconds since the job started.
    public var elapsed: Double
    /// Estimated seconds left: the runtime estimate blended with the pace so far (nil while
    /// cancelling, or before the first step of a job without an estimate).
    public var remaining: Double?
    /// The job has not reported a step yet: `remaining` comes from the runtime estimate.
    public var estimated: Bool

    /// The fraction a bar shows: a job that has not finished its first step (one window of a
    /// one-window model can take seconds) advances by the clock against its runtime estimate
    /// (shown with "~"), up to 99 %.
    public var shownFraction: Double {
        var f = fraction
        if estimated, let left = remaining, elapsed + left > 0 { f = min(0.99, elapsed / (elapsed + left)) }
        return min(max(f, 0), 1)
    }

    public init(label: String, fraction: Double, elapsed: Double = 0, remaining: Double? = nil,
                estimated: Bool = false) {
        self.label = label
        self.fraction = fraction
        self.elapsed = elapsed
        self.remaining = remaining
        self.estimated = estimated
    }
}

/// Everything the user has changed: a plain value, so actions are testable state transitions.
public struct ViewState: Equatable, Sendable {
    public var crosshair: [Int]
    public var focus: Focus = .axial
    /// Per-plane zoom and pan, used when the planes are unlinked.
    public var planes: [PlaneView] = Array(repeating: PlaneView(), count: 3)
    /// Zoom and pan shared by all planes (the default): one zoom factor and one centre point.
    public var linked = true
    public var sharedZoom: Double = 1
    /// Centre of the linked view in continuous voxel coordinates; nil centres every slice.
    public var sharedCenter: [Double]?
    /// A plane shown alone in the whole image area.
    public var maximized: Plane?
    public var window = WindowSetting(preset: WindowSetting.presets[0])
    public var presetIndex: Int? = 0
    public var labelMode: LabelMode = .auto
    public var crosshairMode: CrosshairMode = .line
    /// Labels whose fill or outline the user switched off (the target outline stays).
    public var hiddenLabels: Set<Int32> = []
    public var sidebarMode: SidebarMode = .ranking
    public var labelOpacity: Double = 0.4
    public var heatmapVisible = true
    public var heatmapOpacity: Double = 0.7
    public var signedHeatmap = false
    public var clipPercentile: Double = 99.5
    public var hideBelowOnePercent = true
    public var processing: AttributionProcessing = .abs
    public var includeBackground = true
    public var rankKey: RankKey = .mass
    public var methodIndex = 0
    public var target = 1
    public var selectedRow = 0
    public var highlighted: Int32?
    public var themeIndex = 0
    public var helpVisible = false
    public var helpPage = 0
    public var showGlobal = false
    public var globalPage: GlobalPage?
    public var message: StatusMessage?
    /// Position in the peak list of the last `z`/`Z` jump (nil: the next `z` goes to the maximum).
    public var peakIndex: Int?
    /// Text typed into the go-to prompt while it is open.
    public var prompt: String?
    /// The class × segment matrix's selection while the matrix is shown.
    public var matrix: MatrixCursor?
    /// The second method of compare mode (an index into the methods; nil: compare mode is off).
    public var compareMethodIndex: Int?
    /// Method options, runtime estimates and the options panel.
    public var compute = ComputeState()

    public init(crosshair: [Int]) { self.crosshair = crosshair }

    /// How many peaks `z` cycles through, and how far apart (voxels, Chebyshev) they must be.
    public static let peakCount = 10
    public static let peakSeparation = 3

    public static let labelOpacities: [Double] = [0.2, 0.4, 0.6, 0.8, 1]
    public static let heatmapOpacities: [Double] = [0.35, 0.5, 0.7, 0.85, 1]
    public static let clipPercentiles: [Double] = [99.5, 99, 95, 100]
}

/// The explorer: data, view state, and everything derived from them. It never touches a terminal:
/// `handle` turns input into state changes and a `Reaction`, `render` draws into a `CellGrid`.
public struct Explorer: Sendable {
    public var scene: Scene
    public var state: ViewState
    public var capabilities: RenderCapabilities
    public var width: Int
    public var height: Int
    public var themes: [Theme]
    /// Attribution methods the provider offers (cycled with `m`).
    public var methods: [String]
    /// Model classes; targets index into this list.
    public var classNames: [String]
    public var modelDescription: String
    /// Attribution of the current (method, target), once computed.
    public var attribution: AttributionDisplay?
    /// Ranking for the current (method, target, processing), unsorted and with background.
    public var rows: [SegmentScore] = []
    /// Per-target global box plots from a results CSV (`--global`), keyed by target class name.
    public var global: GlobalResults?
    /// Model class of each label of a label map from a file (e.g. a model's `label_groups.json`).
    public var labelClasses: [Int32: Int] = [:]
    public var progress: ProgressState?
    /// Rankings of other targets for the current method and processing (computed earlier or in
    /// the attribution cache), for the class × segment matrix.
    public var knownRankings: [Int: [SegmentScore]] = [:]
    /// The matrix's background computation of its missing targets (nil: none).
    public var matrixBatch: MatrixBatch?
    /// Compare mode: the second method's attribution and ranking for the current target.
    public var compareAttribution: AttributionDisplay?
    public var compareRows: [SegmentScore] = []

    public init(scene: Scene, capabilities: RenderCapabilities = .full, width: Int, height: Int,
                themes: [Theme] = [Theme.builtIn], methods: [String], classNames: [String],
                modelDescription: String = "") {
        self.scene = scene
        let d = scene.ct.grid.dims
        state = ViewState(crosshair: [d[0] / 2, d[1] / 2, d[2] / 2])
        self.capabilities = capabilities
        self.width = width
        self.height = height
        self.themes = themes.isEmpty ? [Theme.builtIn] : themes
        self.methods = methods
        self.classNames = classNames
        self.modelDescription = modelDescription
        state.target = classNames.count > 1 ? 1 : 0
    }

    public var theme: Theme { themes[state.themeIndex % themes.count] }
    public var method: String { methods.isEmpty ? "none" : methods[state.methodIndex % methods.count] }
    /// Names the target index refers to: the model classes, or without a model the targets of the
    /// `--global` results CSV (so its box plots can still be browsed).
    public var targetNames: [String] {
        if !classNames.isEmpty { return classNames }
        return global.map { GlobalStatistics.targets(in: $0.table) } ?? []
    }

    public var targetName: String {
        let names = targetNames
        return state.target < names.count ? names[state.target] : scene.labelName(Int32(state.target))
    }
    public var layout: Layout {
        Layout(width: width, height: height, sidebarWidth: sidebarWidthNeeded,
               extents: Plane.allCases.map { PlaneViewport.extent(of: $0, grid: scene.ct.grid) },
               maximized: state.maximized)
    }

    /// Sidebar width the list needs: the longest segment name (up to 24 characters) plus rank,
    /// swatch, value and a bar of at least 7 cells.
    var sidebarWidthNeeded: Int {
        var names = scene.voxelCounts.keys.map { scene.labelName($0) }
        if state.showGlobal { names += globalBoxes.map(\.name) }
        return min(names.map(\.count).max() ?? 10, 24) + 24
    }

    /// The label mode in effect (`auto` resolved).
    public var effectiveLabelMode: LabelMode {
        guard state.labelMode == .auto else { return state.labelMode }
        return state.heatmapVisible && attribution != nil ? .outline : .fill
    }

    /// Colour of a label: the label table's, else the theme's categorical palette.
    public func labelColor(_ label: Int32) -> RGB { scene.labelColors[label] ?? theme.labelColor(label) }

    /// Labels that stand for the current target class (outlined in the reserved target colour).
    /// The background class has no outline: its edge would trace every other segment.
    public var targetLabels: Set<Int32> {
        guard !methods.isEmpty, state.target != 0 else { return [] }
        return Set(scene.voxelCounts.keys.filter { $0 != 0 && targetClass(for: $0) == state.target })
    }

    /// Legend rows: every label present, in label order.
    public var legendLabels: [Int32] { scene.voxelCounts.keys.sorted() }

    /// Sidebar rows in display order: background filtered as requested, sorted by the rank key
    /// (by voxel count without a model).
    public var rankedRows: [SegmentScore] { ranked(rows) }

    /// `scores` in sidebar order: background filtered as requested, sorted by the rank key (by
    /// voxel count without a model), ties by label.
    func ranked(_ scores: [SegmentScore]) -> [SegmentScore] {
        let key = rankValue
        return scores.filter { state.includeBackground || $0.label != 0 }
            .sorted { (key($0) ?? -.infinity) != (key($1) ?? -.infinity)
                ? (key($0) ?? -.infinity) > (key($1) ?? -.infinity) : $0.label < $1.label }
    }

    /// The sidebar's value column: mass or mean, or voxels without a model.
    public var rankValue: (SegmentScore) -> Double? {
        if methods.isEmpty { return { Double($0.voxels) } }
        return state.rankKey == .mass ? { $0.mass } : { $0.mean }
    }

    public var rankValueName: String { methods.isEmpty ? "voxels" : state.rankKey.rawValue }

    // MARK: Input

    public mutating func handle(_ event: InputEvent) -> Reaction {
        switch event {
        case .resize(let w, let h):
            width = max(0, w)
            height = max(0, h)
            return .resize
        case .key(let key):
            if state.prompt != nil { return promptKey(key) }
            if state.compute.panel != nil { return optionsPanelKey(key) }
            if state.helpVisible {
                // Space pages through a help that does not fit; any other key closes it, and the
                // help keys themselves only toggle it.
                if key == .char(" "), state.helpPage + 1 < helpLayout().pages {
                    state.helpPage += 1
                    return .redraw
                }
                state.helpVisible = false
                return KeyTable.action(for: key) == .quit ? .quit : .redraw
            }
            if let reaction = matrixKey(key) { return reaction }
            guard let action = KeyTable.action(for: key) else { return .none }
            return apply(action)
        case .mouse(let x, let y, let kind):
            return mouse(x: x, y: y, kind: kind)
        }
    }

    /// Applies an action. Re-ranking and list filters keep the selection on the same segment.
    public mutating func apply(_ action: Action) -> Reaction {
        let keep = selectedLabel
        let reaction = perform(action)
        switch action {
        case .toggleBackground, .toggleRankKey, .cycleProcessing: select(label: keep)
        default: break
        }
        // Another map or processing: the next `z` starts again at its maximum.
        if reaction == .recompute { state.peakIndex = nil }
        return reaction
    }

    /// Replaces the ranking (a new attribution or processing), keeping the selected segment selected.
    public mutating func setRows(_ newRows: [SegmentScore]) {
        let keep = selectedLabel
        rows = newRows
        select(label: keep)
    }

    mutating func select(label: Int32?) {
        guard let label else { return }
        if state.showGlobal {
            let name = scene.labelName(label)
            if let i = globalBoxes.firstIndex(where: { $0.name == name }) { state.selectedRow = i }
        } else if state.sidebarMode == .legend {
            if let i = legendLabels.firstIndex(of: label) { state.selectedRow = i }
        } else if let i = rankedRows.firstIndex(where: { $0.label == label }) {
            state.selectedRow = i
        }
    }

    /// Runs an action through the handler of its group.
    mutating func perform(_ action: Action) -> Reaction {
        if action != .cancel { state.message = nil }
        switch action.group {
        case .navigation: return performNavigation(action)
        case .windowing: return performWindowing(action)
        case .overlays: return performOverlay(action)
        case .ranking: return performRanking(action)
        case .global: return performGlobal(action)
        case .views: return performViews(action)
        case .compute: return performCompute(action)
        case .general: return performGeneral(action)
        }
    }

    /// The model class a label stands for: the label itself for a prediction; for a label map from
    /// a file (which may number its structures differently) the `labelClasses` entry, else the class
    /// of the same name.
    public func targetClass(for label: Int32) -> Int? {
        if scene.labelSource == Scene.predictionSource { return Int(label) < classNames.count ? Int(label) : nil }
        if let c = labelClasses[label], classNames.indices.contains(c) { return c }
        return classNames.firstIndex(of: scene.labelName(label))
    }

    /// Number of rows the sidebar list currently shows (ranking, legend or global boxes).
    var sidebarRowCount: Int {
        state.showGlobal ? globalBoxes.count : state.sidebarMode == .legend ? legendLabels.count : rankedRows.count
    }

    /// The label of the selected sidebar row, if it names one.
    public var selectedLabel: Int32? {
        let row = state.selectedRow
        if state.showGlobal {
            let boxes = globalBoxes
            guard row < boxes.count else { return nil }
            return scene.labelNames.first { $0.value == boxes[row].name }?.key
        }
        if state.sidebarMode == .legend {
            let labels = legendLabels
            return row < labels.count ? labels[row] : nil
        }
        let ranked = rankedRows
        return row < ranked.count ? ranked[row].label : nil
    }

    /// Why the global view has no rows, and which targets the file does have (nil when it has rows).
    public var globalEmptyReason: [String]? {
        guard let global, globalBoxes.isEmpty else { return nil }
        let fileTargets = GlobalStatistics.targets(in: global.table)
        guard !fileTargets.isEmpty else { return ["\(global.source) has no mass columns for any target"] }
        var lines: [String]
        if !classNames.isEmpty && Set(fileTargets).isDisjoint(with: classNames) {
            lines = ["No target of this file is a model class."]
        } else {
            lines = ["No columns for target \(targetName) in this file."]
        }
        lines.append("Targets in the file: " + fileTargets.joined(separator: ", "))
        return lines
    }

    /// Global box plots for the current target, ranked by median, background as requested.
    public var globalBoxes: [GlobalBox] {
        guard let global else { return [] }
        return global.boxes(target: targetName, scanPath: scene.scanPath)
            .filter { state.includeBackground || $0.name != "background" }
    }

    /// The strongest voxels of what the heatmap shows (the processed value; |a| in signed mode).
    public var peaks: [[Int]] {
        guard let attribution else { return [] }
        let processing = state.signedHeatmap ? AttributionProcessing.abs : state.processing
        return AttributionPeaks.top(attribution.map, count: ViewState.peakCount, separation: ViewState.peakSeparation,
                                    value: { processing.apply($0) })
    }

    /// Keys while the go-to prompt is open: typing, Backspace, Enter to go, Esc to close.
    private mutating func promptKey(_ key: Key) -> Reaction {
        var text = state.prompt ?? ""
        switch key {
        case .escape:
            state.prompt = nil
        case .backspace:
            if !text.isEmpty { text.removeLast() }
            state.prompt = text
        case .enter:
            state.prompt = nil
            do {
                state.crosshair = try PositionInput.voxel(text, grid: scene.ct.grid)
                state.message = StatusMessage("Voxel " + state.crosshair.map(String.init).joined(separator: " "))
            } catch {
                state.message = StatusMessage(error.message, isError: true)
            }
        case .char(let c):
            if text.count < 60 { text.append(c) }
            state.prompt = text
        default:
            return .none
        }
        return .redraw
    }

    private mutating func mouse(x: Int, y: Int, kind: MouseKind) -> Reaction {
        let layout = self.layout
        guard !layout.tooSmall else { return .none }
        // Compare mode: each method's planes at compare mode's own scale.
        let compare = compareMethod == nil ? nil : compareLayout(layout: layout)
        let panes: [(Plane, Rect)] = compare.map { c in c.panes.flatMap { zip(c.planes, $0) } }
            ?? Plane.allCases.map { ($0, layout.panes[$0.rawValue]) }
        for (plane, rect) in panes where rect.contains(x, y) {
            state.focus = Focus(rawValue: plane.rawValue) ?? .axial
            switch kind {
            case .wheelUp: return apply(.stepSlice(1))
            case .wheelDown: return apply(.stepSlice(-1))
            case .press:
                let image = Self.image(of: rect)
                guard image.contains(x, y) else { return .redraw }
                let vp = viewport(plane, image, scale: compare?.pixelsPerMM ?? layout.pixelsPerMM)
                let h = vp.columns[x - image.x]
                // Half blocks: the cell's upper pixel stands for the click.
                let v = vp.rows[2 * (y - image.y)]
                if h >= 0, v >= 0 {
                    state.crosshair[vp.axes.horizontal] = h
                    state.crosshair[vp.axes.vertical] = v
                }
                return .redraw
            }
        }
        if layout.sidebar.contains(x, y) {
            state.focus = .sidebar
            switch kind {
            case .wheelUp: return apply(.selectRow(state.selectedRow - 1))
            case .wheelDown: return apply(.selectRow(state.selectedRow + 1))
            case .press:
                let row = y - layout.sidebarListTop + sidebarScroll(visibleRows: layout.sidebarListRows)
                guard y >= layout.sidebarListTop, row < sidebarRowCount else { return .redraw }
                state.selectedRow = row
                return activate(row: row)
            }
        }
        return .none
    }

    /// First list row shown so the selection stays visible.
    func sidebarScroll(visibleRows: Int) -> Int {
        let visible = max(1, visibleRows)
        return max(0, state.selectedRow - visible + 1)
    }

    /// How `plane` maps onto its pane in the current layout (rendering and hit-testing share it).
    public func viewport(of plane: Plane) -> PlaneViewport {
        let layout = self.layout
        return viewport(plane, layout.image(of: plane), scale: layout.pixelsPerMM)
    }

    func viewport(_ plane: Plane, _ image: Rect, scale: Double? = nil) -> PlaneViewport {
        let grid = scene.ct.grid
        let zoom: Double, center: (Double, Double)?
        if state.linked {
            zoom = state.sharedZoom
            center = state.sharedCenter.map {
                PlaneViewport.displayPoint(grid: grid, axes: PlaneAxes(plane: plane, affine: grid.affine), point: $0)
            }
        } else {
            zoom = state.planes[plane.rawValue].zoom
            center = state.planes[plane.rawValue].center.map { ($0[0], $0[1]) }
        }
        return PlaneViewport(plane: plane, grid: grid, crosshair: state.crosshair,
                             pixelWidth: image.width, pixelHeight: image.height * 2, zoom: zoom, center: center,
                             pixelsPerMM: scale ?? layout.pixelsPerMM)
    }
}
