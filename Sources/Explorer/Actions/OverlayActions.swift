import Foundation
import Engine

extension Explorer {
    /// Labels, crosshair style, legend, heatmap and theme: how the planes are drawn.
    mutating func performOverlay(_ action: Action) -> Reaction {
        switch action {
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
        case .nextTheme:
            state.themeIndex = (state.themeIndex + 1) % themes.count
            state.message = StatusMessage("Theme: \(theme.name)")
            return .redraw
        default:
            preconditionFailure("\(action) is not a overlays action")
        }
    }

    static func next(in values: [Double], after v: Double) -> Double {
        let i = values.firstIndex { abs($0 - v) < 1e-9 } ?? -1
        return values[(i + 1) % values.count]
    }
}
