import Engine
import Explorer
import Foundation
import XCTest

/// Golden-file snapshots of a rendered grid: the glyph layer, then (optionally) a style layer with
/// one code per cell and a legend of the colours as the given colour depth displays them.
/// Files live in Tests/ExplorerTests/Snapshots/<test name>.txt; set RECORD_SNAPSHOTS=1 to re-record.
func snapshotText(_ grid: CellGrid, depth: ColorDepth?) -> String {
    var out = ["# \(grid.width)x\(grid.height)" + (depth.map { " depth \($0.rawValue)" } ?? " glyphs only")]
    out += grid.textLines.map { "|" + $0 + "|" }
    guard let depth else { return out.joined(separator: "\n") + "\n" }
    struct Style: Hashable { var fg: String, bg: String, attrs: UInt8 }
    func describe(_ c: RGB) -> String {
        switch depth {
        case .trueColor: return c.description
        case .monochrome: return "-"
        default: return String(depth.paletteIndex(for: c) ?? 0)
        }
    }
    var codes: [Style: Int] = [:]
    var order: [Style] = []
    var rows: [[Int]] = []
    for y in 0..<grid.height {
        rows.append((0..<grid.width).map { x in
            let c = grid[x, y]
            let s = Style(fg: describe(c.fg), bg: describe(c.bg), attrs: c.attrs.rawValue)
            if let n = codes[s] { return n }
            codes[s] = order.count
            order.append(s)
            return order.count - 1
        })
    }
    let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&*+-./:;<=>?@^_~")
    let width = order.count <= alphabet.count ? 1 : 2
    func code(_ n: Int) -> String {
        width == 1 ? String(alphabet[n]) : String(alphabet[n / alphabet.count % alphabet.count]) + String(alphabet[n % alphabet.count])
    }
    out.append("--- styles")
    out += rows.map { "|" + $0.map(code).joined() + "|" }
    out.append("--- legend")
    out += order.enumerated().map { "\(code($0.offset)) fg \($0.element.fg) bg \($0.element.bg) attrs \($0.element.attrs)" }
    return out.joined(separator: "\n") + "\n"
}

func assertSnapshot(_ grid: CellGrid, depth: ColorDepth? = nil, name: String = #function,
                    file: StaticString = #filePath, line: UInt = #line) {
    let dir = URL(fileURLWithPath: "\(file)").deletingLastPathComponent().appendingPathComponent("Snapshots")
    let base = name.replacingOccurrences(of: "()", with: "")
    let url = dir.appendingPathComponent(base + ".txt")
    let actual = snapshotText(grid, depth: depth)
    if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" {
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        XCTAssertNoThrow(try Data(actual.utf8).write(to: url, options: .atomic), file: file, line: line)
        return
    }
    guard let data = FileManager.default.contents(atPath: url.path), let expected = String(data: data, encoding: .utf8)
    else {
        XCTFail("missing snapshot \(url.path); run with RECORD_SNAPSHOTS=1 to record", file: file, line: line)
        return
    }
    guard expected != actual else { return }
    let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
    let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
    var diff: [String] = []
    for i in 0..<max(e.count, a.count) where (i < e.count ? e[i] : nil) != (i < a.count ? a[i] : nil) {
        diff.append("line \(i + 1):\n  - \(i < e.count ? String(e[i]) : "<none>")\n  + \(i < a.count ? String(a[i]) : "<none>")")
        if diff.count >= 12 { diff.append("…"); break }
    }
    XCTFail("snapshot \(base) differs (RECORD_SNAPSHOTS=1 re-records):\n" + diff.joined(separator: "\n"),
            file: file, line: line)
}
