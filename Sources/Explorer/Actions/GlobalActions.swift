import Foundation
import Engine

extension Explorer {
    /// The `--global` results: box plots in the sidebar and the dataset-level pages.
    mutating func performGlobal(_ action: Action) -> Reaction {
        switch action {
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
        default:
            preconditionFailure("\(action) is not a global action")
        }
    }
}
