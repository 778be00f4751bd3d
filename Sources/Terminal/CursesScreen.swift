import CNCurses
import Engine
import Explorer
#if canImport(Glibc)
import Glibc
#endif

/// Why the terminal UI cannot start.
public struct TerminalError: Error, CustomStringConvertible {
    public var description: String
}

/// The key codes of the linked curses library.
public extension CursesKeyCodes {
    static var curses: CursesKeyCodes {
        CursesKeyCodes(up: Int(cnc_key_up()), down: Int(cnc_key_down()), left: Int(cnc_key_left()),
                       right: Int(cnc_key_right()), pageUp: Int(cnc_key_ppage()), pageDown: Int(cnc_key_npage()),
                       home: Int(cnc_key_home()), end: Int(cnc_key_end()), backTab: Int(cnc_key_btab()),
                       enter: Int(cnc_key_enter()), backspace: Int(cnc_key_backspace()),
                       resize: Int(cnc_key_resize()), mouse: Int(cnc_key_mouse()), f1: Int(cnc_key_f(1)))
    }
}

/// Sets the locale from the environment. If that locale is not installed, falls back to C.UTF-8
/// when a UTF-8 locale was asked for, else to C. Returns the resulting character set.
@discardableResult
public func configureLocale(environment: [String: String]) -> String {
    if setlocale(LC_ALL, "") == nil {
        let asked = environment["LC_ALL"] ?? environment["LC_CTYPE"] ?? environment["LANG"] ?? ""
        let wantsUTF8 = CapabilityDetector.isUTF8(asked.split(separator: ".").last.map(String.init) ?? "")
        if !wantsUTF8 || setlocale(LC_ALL, "C.UTF-8") == nil { setlocale(LC_ALL, "C") }
    }
    return String(cString: cnc_codeset())
}

/// The curses screen: init/teardown, colour pairs, drawing changed cells, reading input.
public final class CursesScreen: CellBackend {
    public private(set) var capabilities: RenderCapabilities
    /// How colours reach the terminal (curses pairs or direct SGR) and why.
    public private(set) var colorDecision: ColorDecision
    /// Events decoded from an escape sequence, handed out before reading more input.
    private var pending: [InputEvent] = []
    /// A note for the status line when the terminal had to be substituted.
    public private(set) var notice: String?
    private let screen: OpaquePointer
    private let decoder = KeyDecoder(codes: .curses)
    private var pairs: [Int: Int32] = [:]
    private let maxPairs: Int
    private var pairsExhausted = false
    private var closed = false

    /// Opens the terminal. Fails with a clear message (never exits the process) when stdin/stdout
    /// are not a terminal, `TERM` is dumb, or no terminfo entry can be opened.
    public init(environment: [String: String]) throws {
        guard isatty(0) == 1, isatty(1) == 1 else {
            throw TerminalError(description: "the explorer needs an interactive terminal; use `agg2exp report` "
                                + "for text output")
        }
        let codeset = configureLocale(environment: environment)
        let term = environment["TERM"] ?? ""
        if term.isEmpty || term == "dumb" {
            throw TerminalError(description: "TERM=\(term.isEmpty ? "(unset)" : term) cannot position the cursor; "
                                + "run in a full terminal, or use `agg2exp report` for text output")
        }
        var opened: OpaquePointer?
        for name in CapabilityDetector.terminalCandidates(environment: environment) + ["xterm"] {
            if let s = name.withCString({ cnc_newterm($0) }) {
                opened = s
                if name != term && !name.hasSuffix("-direct") { notice = "TERM=\(term) unknown; drawing as \(name)" }
                break
            }
        }
        guard let opened else {
            throw TerminalError(description: "no terminfo entry for TERM=\(term) (nor xterm)")
        }
        screen = opened
        set_term(screen)
        raw()
        noecho()
        nonl()
        keypad(cnc_stdscr(), true)
        wtimeout(cnc_stdscr(), 20)
        set_escdelay(25)
        curs_set(0)
        mousemask(cnc_all_mouse_events(), nil)
        mouseinterval(0)
        var colors = 0
        if has_colors() {
            start_color()
            colors = Int(cnc_colors())
        }
        maxPairs = Int(cnc_color_pairs())
        let direct = colors >= 1 << 24
        colorDecision = CapabilityDetector.decideColor(environment: environment, cursesColors: colors,
                                                       directColor: direct)
        capabilities = RenderCapabilities(depth: colorDecision.depth, unicode: CapabilityDetector.isUTF8(codeset))
        // Let curses clear the screen once now, so its later refreshes have nothing to redraw
        // over frames written as direct SGR sequences.
        wrefresh(cnc_stdscr())
    }

    deinit { close() }

    /// Restores the terminal. Safe to call more than once.
    public func close() {
        guard !closed else { return }
        closed = true
        endwin()
        delscreen(screen)
    }

    public var size: (width: Int, height: Int) {
        (Int(cnc_maxx(cnc_stdscr())), Int(cnc_maxy(cnc_stdscr())))
    }

    // MARK: Drawing

    public func draw(_ cells: [(x: Int, y: Int, cell: Cell)]) {
        if colorDecision.directSGR { return drawDirect(cells) }
        let win = cnc_stdscr()
        let depth = capabilities.depth
        for (x, y, cell) in cells {
            var attrs = cnc_a_normal()
            if cell.attrs.contains(.bold) { attrs |= cnc_a_bold() }
            if cell.attrs.contains(.reverse) { attrs |= cnc_a_reverse() }
            if cell.attrs.contains(.underline) { attrs |= cnc_a_underline() }
            if cell.attrs.contains(.dim) { attrs |= cnc_a_dim() }
            let pair = depth.hasColor ? self.pair(cell.fg, cell.bg, depth: depth) : 0
            _ = cnc_put_wchar(win, Int32(y), Int32(x), wchar_t(bitPattern: cell.glyph.value), attrs, pair)
        }
        wrefresh(win)
    }

    public func clear() {
        werase(cnc_stdscr())
        clearok(cnc_stdscr(), true)
        if colorDecision.directSGR { wrefresh(cnc_stdscr()) }
    }

    /// Writes cells as cursor moves and SGR 38;2/48;2 truecolor sequences, bypassing curses
    /// output (whose terminfo entry cannot express RGB colours).
    private func drawDirect(_ cells: [(x: Int, y: Int, cell: Cell)]) {
        var out = ""
        out.reserveCapacity(cells.count * 32)
        var last: (x: Int, y: Int)?
        var style: (RGB, RGB, CellAttributes)?
        for (x, y, cell) in cells {
            if last.map({ $0.y != y || $0.x + 1 != x }) ?? true { out += "\u{1b}[\(y + 1);\(x + 1)H" }
            if style.map({ $0.0 != cell.fg || $0.1 != cell.bg || $0.2 != cell.attrs }) ?? true {
                var sgr = "0"
                if cell.attrs.contains(.bold) { sgr += ";1" }
                if cell.attrs.contains(.dim) { sgr += ";2" }
                if cell.attrs.contains(.underline) { sgr += ";4" }
                if cell.attrs.contains(.reverse) { sgr += ";7" }
                sgr += ";38;2;\(cell.fg.r);\(cell.fg.g);\(cell.fg.b);48;2;\(cell.bg.r);\(cell.bg.g);\(cell.bg.b)"
                out += "\u{1b}[\(sgr)m"
                style = (cell.fg, cell.bg, cell.attrs)
            }
            out.unicodeScalars.append(cell.glyph)
            last = (x, y)
        }
        out += "\u{1b}[0m"
        var bytes = Array(out.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 { if errno == EINTR { continue } else { break } }
            offset += n
        }
    }

    /// True once after the colour pairs had to be reset, so the caller redraws everything.
    public func takePairReset() -> Bool {
        defer { pairsExhausted = false }
        return pairsExhausted
    }

    private func pair(_ fg: RGB, _ bg: RGB, depth: ColorDepth) -> Int32 {
        func number(_ c: RGB) -> Int {
            depth == .trueColor ? Int(c.r) << 16 | Int(c.g) << 8 | Int(c.b) : depth.paletteIndex(for: c) ?? 0
        }
        let f = number(fg), b = number(bg)
        let key = f << 25 | b
        if let p = pairs[key] { return p }
        if pairs.count >= maxPairs - 2 {
            // Full: start over; on-screen cells using old pairs are redrawn next frame.
            reset_color_pairs()
            pairs.removeAll(keepingCapacity: true)
            pairsExhausted = true
        }
        let p = alloc_pair(Int32(f), Int32(b))
        let pair = p < 0 ? 0 : p
        pairs[key] = pair
        return pair
    }

    // MARK: Input

    /// Waits up to the input timeout for one event; nil when none arrived.
    public func read() -> InputEvent? {
        if !pending.isEmpty { return pending.removeFirst() }
        var isKey: Int32 = 0, code: Int32 = 0
        guard cnc_read(cnc_stdscr(), &isKey, &code) != cnc_err() else { return nil }
        switch decoder.decode(code: Int(code), isFunctionKey: isKey != 0) {
        case .key(.escape):
            pending = readEscapeSequence()
            return pending.isEmpty ? nil : pending.removeFirst()
        case .key(let k):
            // Ctrl-C arrives as a character in raw mode.
            return code == 3 && isKey == 0 ? .key(.char("q")) : .key(k)
        case .resize:
            let s = size
            return .resize(width: s.width, height: s.height)
        case .mouse:
            var x: Int32 = 0, y: Int32 = 0
            var state: mmask_t = 0
            guard cnc_mouse(&x, &y, &state) != cnc_err() else { return nil }
            if state & cnc_button4_pressed() != 0 { return .mouse(x: Int(x), y: Int(y), kind: .wheelUp) }
            if state & cnc_button5_pressed() != 0 { return .mouse(x: Int(x), y: Int(y), kind: .wheelDown) }
            if state & (cnc_button1_pressed() | cnc_button1_clicked()) != 0 {
                return .mouse(x: Int(x), y: Int(y), kind: .press)
            }
            return nil
        case .ignored:
            return nil
        }
    }

    /// Collects the characters that arrived together with an Esc and decodes them as one sequence.
    private func readEscapeSequence() -> [InputEvent] {
        var following: [UInt32] = []
        wtimeout(cnc_stdscr(), 0)
        defer { wtimeout(cnc_stdscr(), 20) }
        while !EscapeSequence.isComplete(following) {
            var isKey: Int32 = 0, code: Int32 = 0
            guard cnc_read(cnc_stdscr(), &isKey, &code) != cnc_err() else { break }
            if isKey != 0 {
                // A function key right after Esc: Esc, then that key.
                var events = EscapeSequence.decode(following)
                if case .key(let k) = decoder.decode(code: Int(code), isFunctionKey: true) { events.append(.key(k)) }
                return events
            }
            following.append(UInt32(truncatingIfNeeded: code))
        }
        return EscapeSequence.decode(following)
    }

    /// Reads without waiting (to drain queued input before drawing).
    public func readNow() -> InputEvent? {
        wtimeout(cnc_stdscr(), 0)
        defer { wtimeout(cnc_stdscr(), 20) }
        return read()
    }
}
