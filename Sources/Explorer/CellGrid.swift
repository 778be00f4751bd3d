import Engine
import Foundation

extension String {
    func leftPadded(to width: Int, with pad: Character = " ") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }

    func rightPadded(to width: Int) -> String {
        count >= width ? String(prefix(width)) : self + String(repeating: " ", count: width - count)
    }

    /// Exactly `width` characters: padded, or cut with an ellipsis so a cut name never reads as
    /// another real name ("vertebrae_T12" must not become "vertebrae_T1").
    func fitted(to width: Int, unicode: Bool = true) -> String {
        guard width > 0 else { return "" }
        if count <= width { return rightPadded(to: width) }
        return String(prefix(width - 1)) + (unicode ? "…" : "~")
    }
}

/// Text attributes of one cell.
public struct CellAttributes: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let bold = CellAttributes(rawValue: 1)
    public static let reverse = CellAttributes(rawValue: 2)
    public static let underline = CellAttributes(rawValue: 4)
    public static let dim = CellAttributes(rawValue: 8)
}

/// One terminal cell: a single-width glyph with colours and attributes.
public struct Cell: Hashable, Sendable {
    public var glyph: Unicode.Scalar
    public var fg: RGB
    public var bg: RGB
    public var attrs: CellAttributes

    public init(_ glyph: Unicode.Scalar = " ", fg: RGB = .white, bg: RGB = .black, attrs: CellAttributes = []) {
        self.glyph = glyph
        self.fg = fg
        self.bg = bg
        self.attrs = attrs
    }
}

/// A rectangle of cells, origin top-left.
public struct Rect: Hashable, Sendable, CustomStringConvertible {
    public var x: Int, y: Int, width: Int, height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = max(0, width)
        self.height = max(0, height)
    }

    public func contains(_ px: Int, _ py: Int) -> Bool {
        px >= x && py >= y && px < x + width && py < y + height
    }

    public var description: String { "\(x),\(y) \(width)×\(height)" }
}

/// The frame the explorer draws into. Widgets never touch the terminal; the backend diffs two grids
/// and sends only the changed cells.
public struct CellGrid: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]

    public init(width: Int, height: Int, fill: Cell = Cell()) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = [Cell](repeating: fill, count: self.width * self.height)
    }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set { cells[y * width + x] = newValue }
    }

    /// Sets a cell, ignoring coordinates outside the grid so widgets can clip by construction.
    public mutating func set(_ x: Int, _ y: Int, _ cell: Cell) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        cells[y * width + x] = cell
    }

    public mutating func fill(_ rect: Rect, with cell: Cell) {
        for y in max(0, rect.y)..<min(height, rect.y + rect.height) {
            for x in max(0, rect.x)..<min(width, rect.x + rect.width) { cells[y * width + x] = cell }
        }
    }

    /// Writes `text` from (x, y), one scalar per cell, clipped to `maxWidth` cells and the grid.
    /// Returns the number of cells written.
    @discardableResult
    public mutating func put(_ text: String, x: Int, y: Int, fg: RGB, bg: RGB, attrs: CellAttributes = [],
                             maxWidth: Int = .max) -> Int {
        var cx = x
        for scalar in text.unicodeScalars {
            if cx - x >= maxWidth || cx >= width { break }
            set(cx, y, Cell(scalar, fg: fg, bg: bg, attrs: attrs))
            cx += 1
        }
        return cx - x
    }

    /// The glyph layer as lines of text (what a monochrome viewer of the frame would see).
    public var textLines: [String] {
        (0..<height).map { y in
            var s = String.UnicodeScalarView()
            for x in 0..<width { s.append(self[x, y].glyph) }
            return String(s)
        }
    }

    /// Positions whose cells differ from `previous` (all cells when the sizes differ).
    public func changedCells(since previous: CellGrid?) -> [(x: Int, y: Int)] {
        var out: [(x: Int, y: Int)] = []
        guard let previous, previous.width == width, previous.height == height else {
            for y in 0..<height { for x in 0..<width { out.append((x, y)) } }
            return out
        }
        for i in 0..<cells.count where cells[i] != previous.cells[i] { out.append((i % width, i / width)) }
        return out
    }
}
