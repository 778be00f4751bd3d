import CNCurses
import Foundation
import XCTest

final class NCursesShimTests: XCTestCase {
    /// Starts curses on a pipe with `newterm` (no terminal needed), draws one wide character, ends,
    /// and checks the character reached the output as UTF-8.
    func testNewtermOnPipeDrawsWideCharacter() throws {
        XCTAssertNotNil(setlocale(LC_ALL, "C.UTF-8"), "the C.UTF-8 locale is needed for wide output")
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let output = try XCTUnwrap(fdopen(fds[1], "w"))
        let input = try XCTUnwrap(fopen("/dev/null", "r"))
        let screen = try XCTUnwrap(newterm("xterm-256color", output, input))
        let win = try XCTUnwrap(cnc_stdscr())
        XCTAssertEqual(cnc_lines(), 24, "no size from a pipe: terminfo default")
        XCTAssertEqual(cnc_cols(), 80)
        // U+2580 UPPER HALF BLOCK, the glyph the slice views are drawn with.
        XCTAssertEqual(cnc_put_wchar(win, 1, 2, 0x2580, cnc_a_normal(), 0), OK)
        XCTAssertEqual(wrefresh(win), OK)
        // On a pipe endwin cannot restore tty modes and returns ERR, but curses mode has ended.
        _ = endwin()
        XCTAssertTrue(isendwin())
        delscreen(screen)
        fclose(output)
        fclose(input)
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buf, buf.count)
            if n <= 0 { break }
            bytes += buf[0..<n]
        }
        close(fds[0])
        let halfBlock: [UInt8] = [0xE2, 0x96, 0x80]
        XCTAssertTrue((0...(bytes.count - 3)).contains { Array(bytes[$0..<$0 + 3]) == halfBlock },
                      "UTF-8 for ▀ not found in \(bytes.count) bytes of output")
    }
}
