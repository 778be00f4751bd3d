import Foundation

/// A minimal SVG 1.1 writer shared by every figure: elements are appended as text in drawing
/// order; coordinates are user units (px at 96 dpi), so a 640-unit-wide figure fills an A4
/// text column (~17 cm) with 11-unit text staying readable.
public struct SVGDocument: Sendable {
    public let width: Double
    public let height: Double
    private var body: [String] = []
    public static let font = "Helvetica, Arial, sans-serif"

    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    public enum Anchor: String, Sendable { case start, middle, end }

    static func number(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(format: "%.2f", r)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    public mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: RGB?,
                              stroke: RGB? = nil, strokeWidth: Double = 1, title: String? = nil) {
        let n = Self.number
        var element = "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(max(0, width)))\" height=\"\(n(max(0, height)))\""
            + " fill=\"\(fill.map(\.description) ?? "none")\""
        if let stroke { element += " stroke=\"\(stroke)\" stroke-width=\"\(n(strokeWidth))\"" }
        body.append(element + (title.map { "><title>\(Self.escape($0))</title></rect>" } ?? "/>"))
    }

    public mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: RGB,
                              width: Double = 1, dash: String? = nil) {
        let n = Self.number
        body.append("<line x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\" stroke=\"\(stroke)\""
                    + " stroke-width=\"\(n(width))\"" + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/>")
    }

    /// An open polyline through `points`.
    public mutating func polyline(_ points: [(Double, Double)], stroke: RGB, width: Double = 1) {
        let p = points.map { "\(Self.number($0.0)),\(Self.number($0.1))" }.joined(separator: " ")
        body.append("<polyline points=\"\(p)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(Self.number(width))\"/>")
    }

    public mutating func circle(cx: Double, cy: Double, r: Double, fill: RGB?, stroke: RGB? = nil,
                                strokeWidth: Double = 1, title: String? = nil) {
        let n = Self.number
        var element = "<circle cx=\"\(n(cx))\" cy=\"\(n(cy))\" r=\"\(n(r))\" fill=\"\(fill.map(\.description) ?? "none")\""
        if let stroke { element += " stroke=\"\(stroke)\" stroke-width=\"\(n(strokeWidth))\"" }
        body.append(element + (title.map { "><title>\(Self.escape($0))</title></circle>" } ?? "/>"))
    }

    /// Text at (x, y) on its baseline; `rotate` turns it (degrees, clockwise) about (x, y).
    public mutating func text(_ s: String, x: Double, y: Double, size: Double = 11, anchor: Anchor = .start,
                              fill: RGB = .black, bold: Bool = false, rotate: Double = 0) {
        let n = Self.number
        var element = "<text x=\"\(n(x))\" y=\"\(n(y))\" font-size=\"\(n(size))\" text-anchor=\"\(anchor.rawValue)\""
            + " fill=\"\(fill)\""
        if bold { element += " font-weight=\"bold\"" }
        if rotate != 0 { element += " transform=\"rotate(\(n(rotate)) \(n(x)) \(n(y)))\"" }
        body.append(element + ">\(Self.escape(s))</text>")
    }

    /// The document text: white background, one font for everything.
    public var xml: String {
        let n = Self.number
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(n(width))\" height=\"\(n(height))\""
            + " viewBox=\"0 0 \(n(width)) \(n(height))\" font-family=\"\(Self.font)\">\n"
            + "<rect x=\"0\" y=\"0\" width=\"\(n(width))\" height=\"\(n(height))\" fill=\"#ffffff\"/>\n"
            + body.joined(separator: "\n") + "\n</svg>\n"
    }

    /// Writes atomically (temporary file in the same directory, then rename).
    public func write(to url: URL) throws {
        try Data(xml.utf8).write(to: url, options: .atomic)
    }

    /// Approximate width of `s` at `size` in Helvetica (mean advance ≈ 0.55 em), for layout.
    public static func textWidth(_ s: String, size: Double) -> Double { Double(s.count) * size * 0.55 }
}

/// A "nice" tick step (1, 2, 2.5 or 5 × 10^k) giving about `count` intervals over lo…hi, and at
/// least two ticks inside the range.
public func niceStep(lo: Double, hi: Double, count: Int = 5) -> Double {
    guard hi > lo else { return 1 }
    let raw = (hi - lo) / Double(max(1, count))
    let magnitude = Foundation.pow(10, (Foundation.log10(raw)).rounded(.down))
    var step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
    while ((hi / step).rounded(.down) - (lo / step).rounded(.up)) < 1 { step /= 2 }
    return step
}

/// Multiples of `niceStep` inside lo…hi.
public func niceTicks(lo: Double, hi: Double, count: Int = 5) -> [Double] {
    guard hi > lo else { return [lo] }
    let step = niceStep(lo: lo, hi: hi, count: count)
    var out: [Double] = []
    var k = (lo / step).rounded(.up)
    while k * step <= hi + step * 1e-9 {
        out.append(abs(k) < 1e-9 ? 0 : k * step)
        k += 1
    }
    return out
}

/// Tick label text without float noise: the fewest decimals (up to 4) that show the step exactly.
func tickLabel(_ v: Double, step: Double) -> String {
    let decimals = (0...4).first { d in
        let scaled = step * Foundation.pow(10, Double(d))
        return abs(scaled - scaled.rounded()) < 1e-6
    } ?? 4
    return String(format: "%.\(decimals)f", v)
}
