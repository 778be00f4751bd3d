import Foundation

/// A 24-bit colour: label colours from ITK-SNAP / Slicer tables, and every colour the explorer
/// paints (its terminal backend maps them to the colour depth the terminal supports).
public struct RGB: Hashable, Sendable, CustomStringConvertible {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    /// Parses `#rrggbb` (the form theme files use).
    public init?(hex: String) {
        var s = Substring(hex.trimmingCharacters(in: .whitespaces))
        if s.hasPrefix("#") { s = s.dropFirst() }
        guard s.count == 6, let v = UInt32(s, radix: 16) else { return nil }
        self.init(UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff))
    }

    public var description: String {
        String(format: "#%02x%02x%02x", r, g, b)
    }

    /// Relative luminance in 0...1 (Rec. 709 weights on the encoded values; good enough for shading).
    public var luminance: Double {
        (0.2126 * Double(r) + 0.7152 * Double(g) + 0.0722 * Double(b)) / 255
    }

    /// Linear mix: `t = 0` gives `self`, `t = 1` gives `other`.
    public func mixed(with other: RGB, _ t: Double) -> RGB {
        let t = min(max(t, 0), 1)
        func m(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Double(a) * (1 - t) + Double(b) * t).rounded()) }
        return RGB(m(r, other.r), m(g, other.g), m(b, other.b))
    }

    public static let black = RGB(0, 0, 0)
    public static let white = RGB(255, 255, 255)
}
