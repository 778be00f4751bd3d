import Engine
import Explorer

/// How colours are sent to the terminal, and why.
public struct ColorDecision: Equatable, Sendable {
    public var depth: ColorDepth
    /// Truecolor written as SGR 38;2/48;2 escape sequences instead of through curses colour pairs.
    public var directSGR: Bool
    public var reason: String
}

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
        RenderCapabilities(depth: decideColor(environment: environment, cursesColors: cursesColors,
                                              directColor: directColor).depth,
                           unicode: isUTF8(codeset))
    }

    /// The colour depth, whether truecolor is sent as SGR 38;2/48;2 sequences directly (the
    /// terminfo entry cannot carry RGB values), and why, for the help and the report.
    public static func decideColor(environment: [String: String], cursesColors: Int,
                                   directColor: Bool) -> ColorDecision {
        let term = environment["TERM"] ?? ""
        if environment["NO_COLOR"].map({ !$0.isEmpty }) == true {
            return ColorDecision(depth: .monochrome, directSGR: false, reason: "NO_COLOR is set")
        }
        if term == "dumb" || cursesColors < 8 {
            return ColorDecision(depth: .monochrome, directSGR: false,
                                 reason: "TERM=\(term) reports \(cursesColors) colours")
        }
        let colorterm = (environment["COLORTERM"] ?? "").lowercased()
        if colorterm == "truecolor" || colorterm == "24bit" {
            if directColor {
                return ColorDecision(depth: .trueColor, directSGR: false,
                                     reason: "COLORTERM=\(colorterm), terminfo takes RGB colour numbers")
            }
            // The terminal says it accepts RGB; the terminfo entry cannot express it, so the
            // sequences are written directly.
            return ColorDecision(depth: .trueColor, directSGR: true,
                                 reason: "COLORTERM=\(colorterm), TERM=\(term) has no RGB capability: SGR 38;2 sent directly")
        }
        let depth: ColorDepth = cursesColors >= 256 ? .palette256 : cursesColors >= 16 ? .palette16 : .palette8
        return ColorDecision(depth: depth, directSGR: false,
                             reason: "TERM=\(term) reports \(cursesColors) colours, COLORTERM does not ask for truecolor")
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
