import Explorer

/// Decodes what follows an Esc that curses did not turn into a key: an SGR mouse report
/// (`ESC [ < b ; x ; y M|m`, sent when the terminal uses mode 1006 and the terminfo entry does not
/// describe it), another CSI or SS3 sequence, or a key typed right after Esc. Pure, so every
/// sequence is tested without a terminal; nothing of a sequence is ever replayed as keys.
public enum EscapeSequence {
    /// How many characters after Esc can belong to one sequence (longer runs are dropped).
    public static let maximumLength = 32

    /// Whether `following` (the characters after Esc so far) is a complete sequence or cannot
    /// grow into one, so reading can stop.
    public static func isComplete(_ following: [UInt32]) -> Bool {
        guard let first = following.first else { return false }
        if following.count >= maximumLength { return true }
        switch first {
        case 0x5B:  // '[': CSI ends with a final byte 0x40–0x7E.
            return following.count > 1 && (0x40...0x7E).contains(following[following.count - 1])
                && !(following.count == 2 && following[1] == 0x3C)   // "[<" still needs its parameters
        case 0x4F:  // 'O': SS3 is one more character.
            return following.count >= 2
        default:
            return true
        }
    }

    /// The events for Esc followed by `following`.
    public static func decode(_ following: [UInt32]) -> [InputEvent] {
        guard let first = following.first else { return [.key(.escape)] }
        switch first {
        case 0x5B:
            if following.count >= 2, following[1] == 0x3C, let mouse = sgrMouse(Array(following.dropFirst(2))) {
                return mouse.map { [$0] } ?? []
            }
            return []
        case 0x4F:
            return []
        default:
            // Esc, then a key typed quickly after it.
            guard let scalar = Unicode.Scalar(first), first >= 0x20, first != 0x7F else { return [.key(.escape)] }
            return [.key(.escape), .key(.char(Character(scalar)))]
        }
    }

    /// Parses `b ; x ; y M|m`. nil when the text is not an SGR mouse report; `.some(nil)` for a
    /// report the explorer does not use (release, motion, other buttons).
    static func sgrMouse(_ body: [UInt32]) -> InputEvent?? {
        guard let last = body.last, last == 0x4D || last == 0x6D else { return nil }
        let text = String(String.UnicodeScalarView(body.dropLast().compactMap(Unicode.Scalar.init)))
        let fields = text.split(separator: ";", omittingEmptySubsequences: false).map { Int($0) }
        guard fields.count == 3, let b = fields[0], let x = fields[1], let y = fields[2], x >= 1, y >= 1 else {
            return nil
        }
        let pressed = last == 0x4D
        let (cx, cy) = (x - 1, y - 1)
        if b & 64 != 0 {
            guard pressed else { return .some(nil) }
            return .some(.mouse(x: cx, y: cy, kind: b & 1 == 0 ? .wheelUp : .wheelDown))
        }
        // Button 1 press without motion (32) or modifiers beyond the button bits.
        if pressed && b & 3 == 0 && b & 32 == 0 { return .some(.mouse(x: cx, y: cy, kind: .press)) }
        return .some(nil)
    }
}
