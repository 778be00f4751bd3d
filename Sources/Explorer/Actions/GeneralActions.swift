import Foundation
import Engine

extension Explorer {
    /// Export, saving the map, help, cancel and quit.
    mutating func performGeneral(_ action: Action) -> Reaction {
        switch action {
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
        default:
            preconditionFailure("\(action) is not a general action")
        }
    }
}
