import Foundation
import Engine

extension Explorer {
    /// The ranking and what it explains: processing, background row, rank key, method, target, sidebar rows.
    mutating func performRanking(_ action: Action) -> Reaction {
        switch action {
        case .cycleProcessing:
            let all = AttributionProcessing.allCases
            state.processing = all[(all.firstIndex(of: state.processing)! + 1) % all.count]
            return .recompute
        case .toggleBackground:
            state.includeBackground.toggle()
            state.selectedRow = min(state.selectedRow, max(0, sidebarRowCount - 1))
            return .redraw
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
        default:
            preconditionFailure("\(action) is not a ranking action")
        }
    }

    mutating func activate(row: Int) -> Reaction {
        guard row < sidebarRowCount else { return .none }
        state.selectedRow = row
        guard let label = selectedLabel else { return .redraw }
        state.highlighted = state.highlighted == label ? nil : label
        // The segment's voxel nearest its centroid: inside the segment even when the centroid of
        // a left-plus-right structure is not.
        if state.highlighted != nil, let c = scene.anchors[label] { state.crosshair = c }
        return .redraw
    }
}
