import Explorer

/// Curses key codes the decoder needs (from `CNCurses`; tests pass the same values).
public struct CursesKeyCodes: Sendable {
    public var up, down, left, right, pageUp, pageDown, home, end, backTab, enter, backspace: Int
    public var resize, mouse, f1: Int

    public init(up: Int, down: Int, left: Int, right: Int, pageUp: Int, pageDown: Int, home: Int, end: Int,
                backTab: Int, enter: Int, backspace: Int, resize: Int, mouse: Int, f1: Int) {
        (self.up, self.down, self.left, self.right) = (up, down, left, right)
        (self.pageUp, self.pageDown, self.home, self.end) = (pageUp, pageDown, home, end)
        (self.backTab, self.enter, self.backspace) = (backTab, enter, backspace)
        (self.resize, self.mouse, self.f1) = (resize, mouse, f1)
    }
}

/// What one `wget_wch` result means.
public enum DecodedInput: Equatable, Sendable {
    case key(Key)
    case resize
    case mouse
    case ignored
}

/// Turns curses input codes into keys. Pure, so the mapping is tested without a terminal.
public struct KeyDecoder: Sendable {
    public let codes: CursesKeyCodes

    public init(codes: CursesKeyCodes) { self.codes = codes }

    /// - Parameters:
    ///   - code: the character or KEY_* code.
    ///   - isFunctionKey: true when `wget_wch` returned KEY_CODE_YES.
    public func decode(code: Int, isFunctionKey: Bool) -> DecodedInput {
        if isFunctionKey {
            switch code {
            case codes.up: return .key(.up)
            case codes.down: return .key(.down)
            case codes.left: return .key(.left)
            case codes.right: return .key(.right)
            case codes.pageUp: return .key(.pageUp)
            case codes.pageDown: return .key(.pageDown)
            case codes.home: return .key(.home)
            case codes.end: return .key(.end)
            case codes.backTab: return .key(.backTab)
            case codes.enter: return .key(.enter)
            case codes.backspace: return .key(.backspace)
            case codes.resize: return .resize
            case codes.mouse: return .mouse
            case codes.f1..<(codes.f1 + 12): return .key(.function(code - codes.f1 + 1))
            default: return .ignored
            }
        }
        switch code {
        case 9: return .key(.tab)
        case 10, 13: return .key(.enter)
        case 27: return .key(.escape)
        case 8, 127: return .key(.backspace)
        case 0..<32: return .ignored
        default:
            guard let scalar = Unicode.Scalar(UInt32(truncatingIfNeeded: code)) else { return .ignored }
            return .key(.char(Character(scalar)))
        }
    }
}
