import CNCurses
import Engine
import Explorer
import Terminal
import XCTest

final class CapabilityTests: XCTestCase {
    private func detect(_ env: [String: String], codeset: String = "UTF-8", colors: Int = 256,
                        direct: Bool = false) -> RenderCapabilities {
        CapabilityDetector.detect(environment: env, codeset: codeset, cursesColors: colors, directColor: direct)
    }

    func testColourDepthDegradesInOrder() {
        XCTAssertEqual(detect(["TERM": "xterm-direct", "COLORTERM": "truecolor"], colors: 1 << 24, direct: true).depth,
                       .trueColor)
        XCTAssertEqual(detect(["TERM": "xterm-256color", "COLORTERM": "truecolor"]).depth, .trueColor,
                       "COLORTERM says the terminal takes RGB even when terminfo cannot")
        XCTAssertEqual(detect(["TERM": "xterm", "COLORTERM": "24bit"], colors: 8).depth, .trueColor)
        XCTAssertEqual(detect(["TERM": "xterm-256color"]).depth, .palette256)
        XCTAssertEqual(detect(["TERM": "xterm-16color"], colors: 16).depth, .palette16)
        XCTAssertEqual(detect(["TERM": "xterm"], colors: 8).depth, .palette8)
        XCTAssertEqual(detect(["TERM": "vt100"], colors: 0).depth, .monochrome)
        XCTAssertEqual(detect(["TERM": "xterm-256color", "NO_COLOR": "1"]).depth, .monochrome)
        XCTAssertEqual(detect(["TERM": "dumb"]).depth, .monochrome)
    }

    func testTruecolorDecisionSaysHowItWasMade() {
        let viaTerminfo = CapabilityDetector.decideColor(environment: ["TERM": "xterm-direct", "COLORTERM": "truecolor"],
                                                         cursesColors: 1 << 24, directColor: true)
        XCTAssertFalse(viaTerminfo.directSGR)
        XCTAssertEqual(viaTerminfo.reason, "COLORTERM=truecolor, terminfo takes RGB colour numbers")
        let direct = CapabilityDetector.decideColor(environment: ["TERM": "xterm-256color", "COLORTERM": "truecolor"],
                                                    cursesColors: 256, directColor: false)
        XCTAssertTrue(direct.directSGR)
        XCTAssertEqual(direct.reason, "COLORTERM=truecolor, TERM=xterm-256color has no RGB capability: SGR 38;2 sent directly")
        let none = CapabilityDetector.decideColor(environment: ["TERM": "xterm-256color", "COLORTERM": "truecolor",
                                                                "NO_COLOR": "1"], cursesColors: 256, directColor: false)
        XCTAssertEqual(none.depth, .monochrome)
        XCTAssertFalse(none.directSGR)
    }

    func testCharacterSetFollowsTheLocale() {
        XCTAssertTrue(detect(["TERM": "xterm"], codeset: "UTF-8").unicode)
        XCTAssertTrue(detect(["TERM": "xterm"], codeset: "utf8").unicode)
        XCTAssertFalse(detect(["TERM": "xterm"], codeset: "ANSI_X3.4-1968").unicode)
        XCTAssertFalse(detect(["TERM": "xterm"], codeset: "ISO-8859-1").unicode)
    }

    func testTerminfoCandidates() {
        XCTAssertEqual(CapabilityDetector.terminalCandidates(environment: ["TERM": "xterm-256color",
                                                                           "COLORTERM": "truecolor"]),
                       ["xterm-direct", "xterm-256color"])
        XCTAssertEqual(CapabilityDetector.terminalCandidates(environment: ["TERM": "tmux-256color"]), ["tmux-256color"])
        XCTAssertEqual(CapabilityDetector.terminalCandidates(environment: [:]), [])
    }
}

final class KeyDecoderTests: XCTestCase {
    let decoder = KeyDecoder(codes: .curses)

    func testCursesKeyCodes() {
        XCTAssertEqual(decoder.decode(code: Int(cnc_key_up()), isFunctionKey: true), .key(.up))
        XCTAssertEqual(decoder.decode(code: Int(cnc_key_npage()), isFunctionKey: true), .key(.pageDown))
        XCTAssertEqual(decoder.decode(code: Int(cnc_key_btab()), isFunctionKey: true), .key(.backTab))
        XCTAssertEqual(decoder.decode(code: Int(cnc_key_f(1)), isFunctionKey: true), .key(.function(1)))
        XCTAssertEqual(decoder.decode(code: Int(cnc_key_resize()), isFunctionKey: true), .resize)
        XCTAssertEqual(decoder.decode(code: Int(cnc_key_mouse()), isFunctionKey: true), .mouse)
        XCTAssertEqual(decoder.decode(code: 0o777, isFunctionKey: true), .ignored)
    }

    func testCharacters() {
        XCTAssertEqual(decoder.decode(code: 9, isFunctionKey: false), .key(.tab))
        XCTAssertEqual(decoder.decode(code: 13, isFunctionKey: false), .key(.enter))
        XCTAssertEqual(decoder.decode(code: 27, isFunctionKey: false), .key(.escape))
        XCTAssertEqual(decoder.decode(code: 127, isFunctionKey: false), .key(.backspace))
        XCTAssertEqual(decoder.decode(code: Int(Character("q").asciiValue!), isFunctionKey: false), .key(.char("q")))
        XCTAssertEqual(decoder.decode(code: 0x2B, isFunctionKey: false), .key(.char("+")))
        XCTAssertEqual(decoder.decode(code: 0xE9, isFunctionKey: false), .key(.char("é")))
        XCTAssertEqual(decoder.decode(code: 1, isFunctionKey: false), .ignored)
        XCTAssertEqual(decoder.decode(code: 0xD800, isFunctionKey: false), .ignored, "lone surrogate")
    }

    func testEveryKeyTableKeyCanBeTyped() {
        // Every bound key must be producible by the decoder from some curses input.
        var producible: Set<Key> = []
        for code in 0..<0x250 {
            for fk in [false, true] { if case .key(let k) = decoder.decode(code: code, isFunctionKey: fk) { producible.insert(k) } }
        }
        for b in KeyTable.bindings { for k in b.keys { XCTAssertTrue(producible.contains(k), "\(k) cannot be typed") } }
    }
}

final class PresenterTests: XCTestCase {
    func testOnlyChangedCellsAreSent() {
        var presenter = Presenter(backend: RecordingBackend())
        var grid = CellGrid(width: 4, height: 3)
        XCTAssertEqual(presenter.present(grid), 12, "first frame is drawn in full")
        XCTAssertEqual(presenter.present(grid), 0)
        grid.set(2, 1, Cell("x"))
        grid.set(0, 2, Cell(" ", fg: .white, bg: RGB(1, 2, 3)))
        XCTAssertEqual(presenter.present(grid), 2)
        let last = presenter.backend.frames.last!
        XCTAssertEqual(last.map { [$0.x, $0.y] }, [[2, 1], [0, 2]])
        XCTAssertEqual(last[0].cell.glyph, "x")
        XCTAssertEqual(presenter.backend.frames.count, 2, "an unchanged frame sends nothing")
    }

    func testResizeClearsAndRedrawsEverything() {
        var presenter = Presenter(backend: RecordingBackend())
        presenter.present(CellGrid(width: 4, height: 3))
        XCTAssertEqual(presenter.present(CellGrid(width: 5, height: 2)), 10)
        XCTAssertEqual(presenter.backend.clears, 1)
        presenter.invalidate()
        XCTAssertEqual(presenter.present(CellGrid(width: 5, height: 2)), 10)
        XCTAssertEqual(presenter.backend.clears, 2)
    }
}

final class EscapeSequenceTests: XCTestCase {
    private func codes(_ s: String) -> [UInt32] { s.unicodeScalars.map(\.value) }

    func testSGRMouseReportsBecomeMouseEventsNeverKeys() {
        XCTAssertEqual(EscapeSequence.decode(codes("[<0;10;5M")), [.mouse(x: 9, y: 4, kind: .press)])
        XCTAssertEqual(EscapeSequence.decode(codes("[<64;3;7M")), [.mouse(x: 2, y: 6, kind: .wheelUp)])
        XCTAssertEqual(EscapeSequence.decode(codes("[<65;3;7M")), [.mouse(x: 2, y: 6, kind: .wheelDown)])
        XCTAssertEqual(EscapeSequence.decode(codes("[<0;10;5m")), [], "a release is swallowed")
        XCTAssertEqual(EscapeSequence.decode(codes("[<32;10;5M")), [], "motion with the button held is swallowed")
        XCTAssertEqual(EscapeSequence.decode(codes("[<2;10;5M")), [], "the right button is not used")
        XCTAssertEqual(EscapeSequence.decode(codes("[1;5A")), [], "an unknown CSI sequence is swallowed")
        XCTAssertEqual(EscapeSequence.decode(codes("OP")), [], "SS3 is swallowed")
        XCTAssertEqual(EscapeSequence.decode([]), [.key(.escape)], "Esc alone")
        XCTAssertEqual(EscapeSequence.decode(codes("q")), [.key(.escape), .key(.char("q"))])
    }

    func testSequencesEndAtTheirFinalByte() {
        XCTAssertFalse(EscapeSequence.isComplete([]))
        XCTAssertFalse(EscapeSequence.isComplete(codes("[")))
        XCTAssertFalse(EscapeSequence.isComplete(codes("[<")), "'<' opens the SGR parameters")
        XCTAssertFalse(EscapeSequence.isComplete(codes("[<0;10;5")))
        XCTAssertTrue(EscapeSequence.isComplete(codes("[<0;10;5M")))
        XCTAssertTrue(EscapeSequence.isComplete(codes("[A")))
        XCTAssertFalse(EscapeSequence.isComplete(codes("O")))
        XCTAssertTrue(EscapeSequence.isComplete(codes("OP")))
        XCTAssertTrue(EscapeSequence.isComplete(codes("x")))
        XCTAssertTrue(EscapeSequence.isComplete(Array(repeating: 0x30, count: 40)), "runaway input stops")
    }
}
