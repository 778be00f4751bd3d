import Engine

extension Explorer {
    /// Whole-screen views of the current scan: the class × segment matrix and compare mode.
    mutating func performViews(_ action: Action) -> Reaction {
        switch action {
        case .toggleMatrix:
            guard !methods.isEmpty else {
                state.message = StatusMessage("The matrix needs a model (--model DIR)", isError: true)
                return .redraw
            }
            state.matrix = state.matrix == nil ? MatrixCursor(target: state.target) : nil
            return .redraw
        case .toggleCompare:
            guard methods.count > 1 else {
                state.message = StatusMessage("Compare mode needs two methods", isError: true)
                return .redraw
            }
            if state.compareMethodIndex == nil {
                state.compareMethodIndex = (state.methodIndex + 1) % methods.count
                state.message = StatusMessage("Comparing \(method) with \(compareMethod ?? "") (B: other method, C: off)")
            } else {
                state.compareMethodIndex = nil
                compareAttribution = nil
                compareRows = []
            }
            return .recompute
        case .nextCompareMethod:
            guard let b = state.compareMethodIndex else {
                state.message = StatusMessage("Compare mode is off (C turns it on)", isError: true)
                return .redraw
            }
            var next = (b + 1) % methods.count
            if next == state.methodIndex % methods.count { next = (next + 1) % methods.count }
            guard next != b else { return .none }
            state.compareMethodIndex = next
            compareAttribution = nil
            compareRows = []
            state.message = StatusMessage("Comparing \(method) with \(compareMethod ?? "")")
            return .recompute
        default:
            preconditionFailure("\(action) is not a views action")
        }
    }
}
