/// A key press, decoded by the terminal backend (or synthesised by tests).
public enum Key: Hashable, Sendable, CustomStringConvertible {
    case char(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case tab, backTab, enter, escape, backspace
    case function(Int)

    public var description: String {
        switch self {
        case .char(" "): return "Space"
        case .char(let c): return String(c)
        case .up: return "↑"
        case .down: return "↓"
        case .left: return "←"
        case .right: return "→"
        case .pageUp: return "PgUp"
        case .pageDown: return "PgDn"
        case .home: return "Home"
        case .end: return "End"
        case .tab: return "Tab"
        case .backTab: return "S-Tab"
        case .enter: return "Enter"
        case .escape: return "Esc"
        case .backspace: return "Bksp"
        case .function(let n): return "F\(n)"
        }
    }

    /// The name in ASCII (help and hints fall back to it when the locale is not UTF-8).
    public var asciiDescription: String {
        switch self {
        case .up: return "Up"
        case .down: return "Down"
        case .left: return "Left"
        case .right: return "Right"
        default: return description
        }
    }
}

/// Mouse events the explorer understands.
public enum MouseKind: Hashable, Sendable {
    case press, wheelUp, wheelDown
}

/// Everything the run loop feeds into the explorer.
public enum InputEvent: Hashable, Sendable {
    case key(Key)
    case mouse(x: Int, y: Int, kind: MouseKind)
    case resize(width: Int, height: Int)
}
