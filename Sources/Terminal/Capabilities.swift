import Engine
import Explorer

/// Decides colour depth and character set from the environment, the locale and what curses
/// reports. Pure, so every degradation path is testable without a terminal.
public enum CapabilityDetector {
    /// - Parameters:
    ///   - environment: process environment (`TERM`, `COLORTERM`, `NO_COLOR`).
    ///   - codeset: the locale's character set after `setlocale` (`nl_langinfo(CODESET)`).
    ///   - cursesColors: `COLORS` after `start_color`, 0 when the terminal has no colour.
    ///   - directColor: whether the terminfo entry takes RGB values as colour numbers.
    public static func detect(environment: [String: String], codeset: String, cursesColors: Int,
                              directColor: Bool) -> RenderCapabilities {
        let unicode = isUTF8(codeset)
        let term = environment["TERM"] ?? ""
        if environment["NO_COLOR"].map({ !$0.isEmpty }) == true || term == "dumb" || cursesColors < 8 {
            return RenderCapabilities(depth: .monochrome, unicode: unicode)
        }
        let colorterm = (environment["COLORTERM"] ?? "").lowercased()
        let wantsTrue = colorterm == "truecolor" || colorterm == "24bit"
        let depth: ColorDepth
        if wantsTrue && directColor {
            depth = .trueColor
        } else if cursesColors >= 256 {
            depth = .palette256
        } else if cursesColors >= 16 {
            depth = .palette16
        } else {
            depth = .palette8
        }
        return RenderCapabilities(depth: depth, unicode: unicode)
    }

    public static func isUTF8(_ codeset: String) -> Bool {
        let c = codeset.lowercased().replacingOccurrences(of: "-", with: "")
        return c == "utf8"
    }

    /// The terminfo names to try, best first: with `COLORTERM=truecolor` the `-direct` variant of
    /// `TERM` (whose colour numbers are RGB values), then `TERM` itself.
    public static func terminalCandidates(environment: [String: String]) -> [String] {
        let term = environment["TERM"] ?? ""
        guard !term.isEmpty else { return [] }
        let colorterm = (environment["COLORTERM"] ?? "").lowercased()
        guard colorterm == "truecolor" || colorterm == "24bit", !term.hasSuffix("-direct") else { return [term] }
        let family = term.split(separator: "-").first.map(String.init) ?? term
        return [family + "-direct", term]
    }
}
