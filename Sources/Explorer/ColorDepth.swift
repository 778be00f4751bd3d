import Engine

/// How many colours the terminal can show. Rendering degrades in this order.
public enum ColorDepth: String, Sendable, CaseIterable {
    case trueColor = "truecolor"
    case palette256 = "256"
    case palette16 = "16"
    case palette8 = "8"
    case monochrome = "mono"

    /// The xterm palette index closest to `c` (nil for truecolor and monochrome, which need none).
    public func paletteIndex(for c: RGB) -> Int? {
        switch self {
        case .trueColor, .monochrome: return nil
        case .palette256: return Self.index256(c)
        case .palette16: return Self.nearest(c, in: Self.ansi16)
        case .palette8: return Self.nearest(c, in: Array(Self.ansi16.prefix(8)))
        }
    }

    /// The colour the terminal actually shows for `c` at this depth (used by snapshots and reports).
    public func displayed(_ c: RGB) -> RGB {
        switch self {
        case .trueColor: return c
        case .monochrome: return c.luminance >= 0.5 ? .white : .black
        default: return Self.paletteColor(paletteIndex(for: c) ?? 0)
        }
    }

    /// The palette's greys, dark to bright, that CT shading is drawn from at 8 and 16 colours
    /// (black, dark grey, grey, white; only black and grey exist at 8).
    public var greys: [RGB] {
        switch self {
        case .palette16: return [0, 8, 7, 15].map(Self.paletteColor)
        case .palette8: return [0, 7].map(Self.paletteColor)
        default: return [.black, .white]
        }
    }

    /// Whether cells can carry colour at all.
    public var hasColor: Bool { self != .monochrome }

    /// The 16 ANSI colours as xterm draws them.
    public static let ansi16: [RGB] = [
        RGB(0, 0, 0), RGB(205, 0, 0), RGB(0, 205, 0), RGB(205, 205, 0),
        RGB(0, 0, 238), RGB(205, 0, 205), RGB(0, 205, 205), RGB(229, 229, 229),
        RGB(127, 127, 127), RGB(255, 0, 0), RGB(0, 255, 0), RGB(255, 255, 0),
        RGB(92, 92, 255), RGB(255, 0, 255), RGB(0, 255, 255), RGB(255, 255, 255),
    ]

    private static let cubeLevels: [Int] = [0, 95, 135, 175, 215, 255]

    /// RGB of xterm palette entry `i` (0–255).
    public static func paletteColor(_ i: Int) -> RGB {
        if i < 16 { return ansi16[max(0, i)] }
        if i < 232 {
            let v = i - 16
            return RGB(UInt8(cubeLevels[v / 36]), UInt8(cubeLevels[v / 6 % 6]), UInt8(cubeLevels[v % 6]))
        }
        let g = UInt8(8 + 10 * (i - 232))
        return RGB(g, g, g)
    }

    /// Nearest entry of the 6×6×6 cube or the 24-step grey ramp (indices 16–255).
    static func index256(_ c: RGB) -> Int {
        func level(_ v: UInt8) -> Int {
            let v = Int(v)
            return v < 48 ? 0 : v < 115 ? 1 : (v - 35) / 40
        }
        let (ri, gi, bi) = (level(c.r), level(c.g), level(c.b))
        let cube = 16 + 36 * ri + 6 * gi + bi
        let avg = (Int(c.r) + Int(c.g) + Int(c.b)) / 3
        let grey = avg > 238 ? 255 : 232 + max(0, (avg - 3) / 10)
        return distance(c, paletteColor(grey)) < distance(c, paletteColor(cube)) ? grey : cube
    }

    static func nearest(_ c: RGB, in palette: [RGB]) -> Int {
        var best = 0
        var bestD = Int.max
        for (i, p) in palette.enumerated() {
            let d = distance(c, p)
            if d < bestD { bestD = d; best = i }
        }
        return best
    }

    static func distance(_ a: RGB, _ b: RGB) -> Int {
        let dr = Int(a.r) - Int(b.r), dg = Int(a.g) - Int(b.g), db = Int(a.b) - Int(b.b)
        // Weighted towards green, like the eye.
        return 3 * dr * dr + 4 * dg * dg + 2 * db * db
    }
}

/// What the terminal can display: colour depth and whether the locale can draw Unicode glyphs.
public struct RenderCapabilities: Hashable, Sendable {
    public var depth: ColorDepth
    public var unicode: Bool

    public init(depth: ColorDepth, unicode: Bool) {
        self.depth = depth
        self.unicode = unicode
    }

    public static let full = RenderCapabilities(depth: .trueColor, unicode: true)
}

extension RGB {
    /// True for unsaturated colours (the CT where no overlay tints it).
    var isGrey: Bool { max(r, g, b) - min(r, g, b) < 6 }
}
