import Foundation

/// Box-plot statistics as ggplot2's `geom_boxplot` draws them: R type-7 quartiles, whiskers to
/// the most extreme values within 1.5 × IQR of the box, values beyond drawn as outlier points.
public struct BoxStatistics: Sendable, Equatable {
    public var summary: DistributionSummary
    public var lowerWhisker: Double
    public var upperWhisker: Double
    public var outliers: [Double]

    public init?(_ values: [Double?]) {
        guard let s = DistributionSummary(values) else { return nil }
        let v = values.compactMap { $0 }.filter { !$0.isNaN }.sorted()
        let iqr = s.q3 - s.q1
        let lo = s.q1 - 1.5 * iqr, hi = s.q3 + 1.5 * iqr
        summary = s
        lowerWhisker = v.first { $0 >= lo } ?? s.min
        upperWhisker = v.last { $0 <= hi } ?? s.max
        outliers = v.filter { $0 < lo || $0 > hi }
    }
}

/// Plain-text plotting pieces shared by the analysis commands and the explorer pages.
public enum TextPlot {
    static let eighths: [Character] = ["▏", "▎", "▍", "▌", "▋", "▊", "▉"]
    static let shades: [Character] = [" ", "░", "▒", "▓", "█"]

    /// A horizontal bar of `fraction` × `width` cells with eighth-block resolution.
    public static func bar(_ fraction: Double, width: Int) -> String {
        let f = min(max(fraction.isFinite ? fraction : 0, 0), 1)
        let eighthsTotal = Int((f * Double(width) * 8).rounded())
        var out = String(repeating: "█", count: eighthsTotal / 8)
        if eighthsTotal % 8 > 0 { out.append(eighths[eighthsTotal % 8 - 1]) }
        return out
    }

    /// One of five shade glyphs for `level` in 0…1.
    public static func shade(_ level: Double) -> Character {
        let l = min(max(level.isFinite ? level : 0, 0), 1)
        return shades[Int((l * Double(shades.count - 1)).rounded())]
    }

    /// `0.106` → ".106" (values below 1), `1` → "1.00": masses in four characters.
    public static func decimal3(_ v: Double) -> String {
        if v < 1 && v >= 0 { return String(String(format: "%.3f", v).dropFirst()) }
        return String(format: v.magnitude < 10 ? "%.2f" : "%.0f", v)
    }

    /// A text box plot of `box` on the axis `lo…hi` in `width` cells:
    /// `·` outliers, `─` whiskers, `▒` the inter-quartile box, `┃` the median, `○` a marked value.
    public static func boxLine(_ box: BoxStatistics, lo: Double, hi: Double, width: Int, mark: Double? = nil) -> String {
        var cells = [Character](repeating: " ", count: width)
        func x(_ v: Double) -> Int {
            guard hi > lo else { return 0 }
            return min(width - 1, max(0, Int(((v - lo) / (hi - lo) * Double(width - 1)).rounded())))
        }
        let s = box.summary
        for i in x(box.lowerWhisker)...x(box.upperWhisker) { cells[i] = "─" }
        for i in x(s.q1)...x(s.q3) { cells[i] = "▒" }
        cells[x(s.median)] = "┃"
        for o in box.outliers { cells[x(o)] = "·" }
        if let mark { cells[x(mark)] = "○" }
        return String(cells)
    }

    /// Tick labels for an axis `lo…hi` drawn under a `width`-cell plot: the two ends, left and
    /// right aligned.
    public static func axis(lo: Double, hi: Double, width: Int) -> String {
        let a = String(format: "%.3g", lo), b = String(format: "%.3g", hi)
        let gap = max(1, width - a.count - b.count)
        return a + String(repeating: " ", count: gap) + b
    }
}

extension String {
    /// Pads on the right to `width` characters (at least one space after a longer string).
    func padded(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }

    /// Pads on the left to `width` characters (at least one space before a longer string).
    func leftPadded(_ width: Int) -> String {
        count >= width ? " " + self : String(repeating: " ", count: width - count) + self
    }
}
