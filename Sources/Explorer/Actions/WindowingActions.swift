import Foundation
import Engine

extension Explorer {
    /// CT window presets and free width/level.
    mutating func performWindowing(_ action: Action) -> Reaction {
        switch action {
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
        default:
            preconditionFailure("\(action) is not a windowing action")
        }
    }
}
