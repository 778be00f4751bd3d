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
    public var rankedRows: [SegmentScore] {
        let key = rankValue
        return rows.filter { state.includeBackground || $0.label != 0 }
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

    private mutating func select(label: Int32?) {
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

    private mutating func perform(_ action: Action) -> Reaction {
        if action != .cancel { state.message = nil }
        let dims = scene.ct.grid.dims
        switch action {
        case .moveCrosshair(let dx, let dy):
            guard let plane = state.focus.plane else {
                return perform(.selectRow(state.selectedRow + dy))
            }
            let axes = PlaneAxes(plane: plane, affine: scene.ct.grid.affine)
            moveAxis(axes.horizontal, by: axes.flipHorizontal ? -dx : dx)
            moveAxis(axes.vertical, by: axes.flipVertical ? -dy : dy)
            return .redraw
        case .stepSlice(let n):
            let plane = state.focus.plane ?? .axial
            moveAxis(PlaneAxes(plane: plane, affine: scene.ct.grid.affine).normal, by: n)
            return .redraw
        case .focusNext:
            state.focus = Focus(rawValue: (state.focus.rawValue + 1) % Focus.allCases.count) ?? .axial
            return .redraw
        case .focusPrevious:
            state.focus = Focus(rawValue: (state.focus.rawValue + Focus.allCases.count - 1) % Focus.allCases.count)
                ?? .axial
            return .redraw
        case .zoomIn, .zoomOut:
            let plane = state.focus.plane ?? .axial
            let factor = action == .zoomIn ? 1.25 : 0.8
            if state.linked {
                state.sharedZoom = min(max(state.sharedZoom * factor, 1), 16)
                if state.sharedZoom == 1 { state.sharedCenter = nil }
                else if state.sharedCenter == nil { state.sharedCenter = state.crosshair.map { Double($0) + 0.5 } }
                state.message = StatusMessage(String(format: "Zoom %.1f× (all planes; u unlinks)", state.sharedZoom))
                return .redraw
            }
            var view = state.planes[plane.rawValue]
            view.zoom = min(max(view.zoom * factor, 1), 16)
            if view.zoom == 1 { view.center = nil } else if view.center == nil {
                let axes = PlaneAxes(plane: plane, affine: scene.ct.grid.affine)
                let c = PlaneViewport.displayPoint(grid: scene.ct.grid, axes: axes, h: state.crosshair[axes.horizontal],
                                                   v: state.crosshair[axes.vertical])
                view.center = [c.0, c.1]
            }
            state.planes[plane.rawValue] = view
            state.message = StatusMessage(String(format: "Zoom %.1f× (%@ only; u links)", view.zoom, plane.title))
            return .redraw
        case .zoomReset:
            if state.linked {
                state.sharedZoom = 1
                state.sharedCenter = nil
            } else {
                state.planes[(state.focus.plane ?? .axial).rawValue] = PlaneView()
            }
            return .redraw
        case .pan(let dx, let dy):
            let plane = state.focus.plane ?? .axial
            let grid = scene.ct.grid
            let axes = PlaneAxes(plane: plane, affine: grid.affine)
            let (extentH, extentV) = PlaneViewport.extent(of: plane, grid: grid)
            if state.linked {
                // One step moves a tenth of the visible extent, along the plane's screen axes.
                var c = state.sharedCenter ?? dims.map { Double($0) / 2 }
                let zoom = state.sharedZoom
                let stepH = Double(dx) * Double(dims[axes.horizontal]) / 10 / zoom
                let stepV = Double(dy) * Double(dims[axes.vertical]) / 10 / zoom
                c[axes.horizontal] += axes.flipHorizontal ? -stepH : stepH
                c[axes.vertical] += axes.flipVertical ? -stepV : stepV
                for a in 0..<3 { c[a] = min(max(c[a], 0), Double(dims[a])) }
                state.sharedCenter = c
                return .redraw
            }
            var view = state.planes[plane.rawValue]
            var c = view.center ?? [extentH / 2, extentV / 2]
            c[0] = min(max(c[0] + Double(dx) * extentH / 10 / view.zoom, 0), extentH)
            c[1] = min(max(c[1] + Double(dy) * extentV / 10 / view.zoom, 0), extentV)
            view.center = c
            state.planes[plane.rawValue] = view
            return .redraw
        case .toggleLink:
            state.linked.toggle()
            if state.linked {
                state.planes = Array(repeating: PlaneView(), count: 3)
            } else {
                // Each plane starts from the linked view it showed.
                for plane in Plane.allCases {
                    var view = PlaneView()
                    view.zoom = state.sharedZoom
                    if let c = state.sharedCenter {
                        let p = PlaneViewport.displayPoint(grid: scene.ct.grid,
                                                           axes: PlaneAxes(plane: plane, affine: scene.ct.grid.affine),
                                                           point: c)
                        view.center = [p.0, p.1]
                    }
                    state.planes[plane.rawValue] = view
                }
                state.sharedZoom = 1
                state.sharedCenter = nil
            }
            state.message = StatusMessage(state.linked ? "Zoom and pan linked across planes"
                                          : "Zoom and pan per plane (u links again)")
            return .redraw
        case .toggleMaximize:
            let plane = state.focus.plane ?? .axial
            state.maximized = state.maximized == plane ? nil : plane
            if state.maximized != nil { state.focus = Focus(rawValue: plane.rawValue) ?? .axial }
            return .resize
        case .cycleWindowPreset:
            let next = ((state.presetIndex ?? -1) + 1) % WindowSetting.presets.count
            state.presetIndex = next
            state.window = WindowSetting(preset: WindowSetting.presets[next])
            return .redraw
        case .adjustWindowWidth(let f):
            state.window = WindowSetting(width: min(max(state.window.width * (1 + f), 1), 10000),
                                         level: state.window.level)
            state.presetIndex = nil
            return .redraw
        case .adjustWindowLevel(let d):
            state.window = WindowSetting(width: state.window.width, level: min(max(state.window.level + d, -2000), 4000))
            state.presetIndex = nil
            return .redraw
        case .cycleLabelMode:
            let all = LabelMode.allCases
            state.labelMode = all[(all.firstIndex(of: state.labelMode)! + 1) % all.count]
            state.message = StatusMessage("Labels: \(state.labelMode.rawValue)"
                                          + (state.labelMode == .auto ? " (now \(effectiveLabelMode.rawValue))" : ""))
            return .redraw
        case .cycleLabelOpacity:
            state.labelOpacity = Self.next(in: ViewState.labelOpacities, after: state.labelOpacity)
            state.message = StatusMessage("Label opacity \(Int(state.labelOpacity * 100))%"
                                          + (effectiveLabelMode == .fill ? "" : " (applies to filled labels: o)"))
            return .redraw
        case .cycleCrosshair:
            let all = CrosshairMode.allCases
            state.crosshairMode = all[(all.firstIndex(of: state.crosshairMode)! + 1) % all.count]
            state.message = StatusMessage("Crosshair: \(state.crosshairMode.rawValue)")
            return .redraw
        case .toggleLabelVisibility:
            guard let label = selectedLabel else {
                state.message = StatusMessage("Select a segment in the sidebar first (Tab)", isError: true)
                return .redraw
            }
            if state.hiddenLabels.remove(label) == nil { state.hiddenLabels.insert(label) }
            state.message = StatusMessage("\(scene.labelName(label)) "
                                          + (state.hiddenLabels.contains(label) ? "hidden" : "shown"))
            return .redraw
        case .toggleLegend:
            state.sidebarMode = state.sidebarMode == .legend ? .ranking : .legend
            state.showGlobal = false
            state.selectedRow = 0
            return .redraw
        case .toggleHeatmap:
            state.heatmapVisible.toggle()
            return .redraw
        case .cycleHeatmapOpacity:
            state.heatmapOpacity = Self.next(in: ViewState.heatmapOpacities, after: state.heatmapOpacity)
            state.message = StatusMessage("Heatmap opacity \(Int(state.heatmapOpacity * 100))%")
            return .redraw
        case .toggleSigned:
            state.signedHeatmap.toggle()
            return .redraw
        case .cycleClipPercentile:
            state.clipPercentile = Self.next(in: ViewState.clipPercentiles, after: state.clipPercentile)
            return .redraw
        case .toggleThreshold:
            state.hideBelowOnePercent.toggle()
            return .redraw
        case .cycleProcessing:
            let all = AttributionProcessing.allCases
            state.processing = all[(all.firstIndex(of: state.processing)! + 1) % all.count]
            return .recompute
        case .toggleBackground:
            state.includeBackground.toggle()
            state.selectedRow = min(state.selectedRow, max(0, sidebarRowCount - 1))
            return .redraw
        case .toggleGlobal:
            guard global != nil else {
                state.message = StatusMessage("No results CSV loaded (start with --global FILE)", isError: true)
                return .redraw
            }
            state.showGlobal.toggle()
            state.selectedRow = 0
            return .redraw
        case .cycleGlobalPage:
            return cycleGlobalPage()
        case .toggleRankKey:
            state.rankKey = state.rankKey == .mass ? .mean : .mass
            return .redraw
        case .nextMethod, .previousMethod:
            guard methods.count > 1 else { return .none }
            let step = action == .nextMethod ? 1 : methods.count - 1
            state.methodIndex = (state.methodIndex + step) % methods.count
            return .recompute
        case .targetUnderCrosshair:
            guard let label = scene.label(at: state.crosshair) else {
                state.message = StatusMessage("No label map to pick a target from", isError: true)
                return .redraw
            }
            guard let target = targetClass(for: label) else {
                state.message = StatusMessage("\(scene.labelName(label)) is not a model class", isError: true)
                return .redraw
            }
            guard target != state.target else { return .redraw }
            state.target = target
            return .recompute
        case .nextTarget, .previousTarget:
            let count = targetNames.count
            guard count > 1 else { return .none }
            state.target = (state.target + (action == .nextTarget ? 1 : count - 1)) % count
            state.selectedRow = 0
            return .recompute
        case .selectRow(let row):
            let count = sidebarRowCount
            guard count > 0 else { return .none }
            state.selectedRow = min(max(row, 0), count - 1)
            return .redraw
        case .activateRow:
            guard state.focus == .sidebar else { return .none }
            return activate(row: state.selectedRow)
        case .jumpToPeak(let step):
            return jumpToPeak(step)
        case .openPrompt:
            state.prompt = ""
            return .redraw
        case .nextTheme:
            state.themeIndex = (state.themeIndex + 1) % themes.count
            state.message = StatusMessage("Theme: \(theme.name)")
            return .redraw
        case .openMethodOptions, .confirmCompute, .recompute, .togglePin:
            return performCompute(action)
        case .export(let ansi):
            return .export(ansi: ansi)
        case .saveMap:
            guard attribution != nil else {
                state.message = StatusMessage("No attribution map to save yet", isError: true)
                return .redraw
            }
            return .saveMap
        case .toggleHelp:
            state.helpVisible.toggle()
            state.helpPage = 0
            return .redraw
        case .cancel:
            if state.helpVisible { state.helpVisible = false; return .redraw }
            if state.globalPage != nil { state.globalPage = nil; return .redraw }
            return progress == nil ? .none : .cancelComputation
        case .quit:
            return .quit
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

    private mutating func activate(row: Int) -> Reaction {
        guard row < sidebarRowCount else { return .none }
        state.selectedRow = row
        guard let label = selectedLabel else { return .redraw }
        state.highlighted = state.highlighted == label ? nil : label
        // The segment's voxel nearest its centroid: inside the segment even when the centroid of
        // a left-plus-right structure is not.
        if state.highlighted != nil, let c = scene.anchors[label] { state.crosshair = c }
        return .redraw
    }

    /// The strongest voxels of what the heatmap shows (the processed value; |a| in signed mode).
    public var peaks: [[Int]] {
        guard let attribution else { return [] }
        let processing = state.signedHeatmap ? AttributionProcessing.abs : state.processing
        return AttributionPeaks.top(attribution.map, count: ViewState.peakCount, separation: ViewState.peakSeparation,
                                    value: { processing.apply($0) })
    }

    private mutating func jumpToPeak(_ step: Int) -> Reaction {
        guard let attribution else {
            state.message = StatusMessage("No attribution map to jump in yet", isError: true)
            return .redraw
        }
        let peaks = self.peaks
        guard !peaks.isEmpty else {
            state.message = StatusMessage("No \(state.processing.rawValue) attribution above 0 to jump to", isError: true)
            return .redraw
        }
        let n = peaks.count
        let i = state.peakIndex.map { (($0 + step) % n + n) % n } ?? (step > 0 ? 0 : n - 1)
        state.peakIndex = i
        state.crosshair = peaks[i]
        let p = peaks[i]
        let value = attribution.map[p[0], p[1], p[2]]
        state.message = StatusMessage("Peak \(i + 1)/\(n): a = \(String(format: "%.4g", value)) at voxel "
                                      + p.map(String.init).joined(separator: " ") + " (z next, Z previous)")
        return .redraw
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

    private mutating func moveAxis(_ axis: Int, by n: Int) {
        state.crosshair[axis] = min(max(state.crosshair[axis] + n, 0), scene.ct.grid.dims[axis] - 1)
    }

    private static func next(in values: [Double], after v: Double) -> Double {
        let i = values.firstIndex { abs($0 - v) < 1e-9 } ?? -1
        return values[(i + 1) % values.count]
    }

    private mutating func mouse(x: Int, y: Int, kind: MouseKind) -> Reaction {
        let layout = self.layout
        guard !layout.tooSmall else { return .none }
        for plane in Plane.allCases {
            let rect = layout.panes[plane.rawValue]
            guard rect.contains(x, y) else { continue }
            state.focus = Focus(rawValue: plane.rawValue) ?? .axial
            switch kind {
            case .wheelUp: return apply(.stepSlice(1))
            case .wheelDown: return apply(.stepSlice(-1))
            case .press:
                let image = layout.image(of: plane)
                guard image.contains(x, y) else { return .redraw }
                let vp = viewport(plane, image, scale: layout.pixelsPerMM)
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
                let row = y - layout.sidebarListTop + sidebarScroll(layout: layout)
                guard y >= layout.sidebarListTop, row < sidebarRowCount else { return .redraw }
                state.selectedRow = row
                return activate(row: row)
            }
        }
        return .none
    }

    /// First list row shown so the selection stays visible.
    func sidebarScroll(layout: Layout) -> Int {
        let visible = max(1, layout.sidebarListRows)
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
