import Foundation
import XCTest

/// The real binary under tmux on the tiny CT and model: a long job (IG with 200 steps, set in the
/// options panel) waits for `y`, stops when you leave it (the process goes idle), runs on when
/// pinned, and Esc lands within a window.
extension TmuxEndToEndTests {
    /// CPU seconds (user + system) the explorer process has used, from /proc.
    private func cpuSeconds(_ pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command name (which is in parentheses and may hold spaces).
        let fields = stat[stat.index(after: try XCTUnwrap(stat.lastIndex(of: ")")))...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        return (Double(fields[11])! + Double(fields[12])!) / ticks
    }

    /// The agg2exp process running in the tmux pane (a child of the pane's shell).
    private func explorerPid() throws -> Int32 {
        let shell = try XCTUnwrap(Int32(try tmux(["display-message", "-p", "-t", session, "#{pane_pid}"], output: true)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        let children = try String(contentsOfFile: "/proc/\(shell)/task/\(shell)/children", encoding: .utf8)
        let pids = children.split(separator: " ").compactMap { Int32($0) }
        return try XCTUnwrap(pids.first { pid in
            ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").hasPrefix("agg2exp")
        })
    }

    /// Share of one core the process used over `seconds`.
    private func cpuLoad(_ pid: Int32, over seconds: Double) throws -> Double {
        let before = try cpuSeconds(pid), start = Date()
        usleep(UInt32(seconds * 1e6))
        return (try cpuSeconds(pid) - before) / Date().timeIntervalSince(start)
    }

    /// Opens the options panel on integrated-gradients and sets 200 steps (20 → 32 → 50 → 64 →
    /// 100 → 128 → 200), then applies: about 6 s of work on this model, so every step below
    /// finds the job still running.
    private func setIGTo200Steps() throws {
        try tmux(["send-keys", "-t", session, "i"])
        try waitFor(5, "the options panel") { $0.contains("Method options · integrated-gradients") }
        try tmux(["send-keys", "-t", session, "Down", "Right", "Right", "Right", "Right", "Right", "Right"])
        try waitFor(5, "200 steps in the command line") { $0.contains("--steps 200") }
        try tmux(["send-keys", "-t", session, "Enter"])
    }

    func testLongJobWaitsLeavingCancelsPinningKeepsAndEscLandsFast() throws {
        try start("TERM=xterm-256color LANG=C.UTF-8",
                  arguments: "view '\(tinyScan)' --model '\(tinyModel)' --confirm-above 1", width: 180, height: 50)
        try waitFor(60, "the gradient") { $0.contains("Target liver (1) · gradient") && $0.contains(" (p") }
        let pid = try explorerPid()
        // IxG, then IG with its default 20 steps: short, so they just run (on a slow build, e.g.
        // under a sanitizer, IG may be estimated above the threshold: then y starts it).
        try tmux(["send-keys", "-t", session, "m"])
        try waitFor(30, "input-x-gradient") { $0.contains("input-x-gradient → liver (1)") && $0.contains(" (p") }
        try tmux(["send-keys", "-t", session, "m"])
        let ig = { (s: String) in s.contains("integrated-gradients → liver (1)") && s.contains(" (p") }
        if try waitFor(60, "integrated-gradients or its prompt", { ig($0) || $0.contains("y starts it") })
            .contains("y starts it") {
            try tmux(["send-keys", "-t", session, "y"])
        }
        try waitFor(60, "integrated-gradients", ig)

        // 200 steps is estimated from the passes measured so far, above the 1 s threshold: it waits.
        try setIGTo200Steps()
        var screen = try waitFor(5, "the estimate and the confirmation prompt") {
            $0.contains("y starts it") && $0.contains("needs ≈")
        }
        XCTAssertTrue(screen.contains("200 gradient passes ×"), "the estimate names its basis:\n\(screen)")
        XCTAssertLessThan(try cpuLoad(pid, over: 1), 0.3, "nothing runs before y")
        try tmux(["send-keys", "-t", session, "y"])
        try waitFor(10, "the job") { $0.contains("integrated-gradients → liver [") }

        // Leaving the method (for the cached input-x-gradient) cancels the job: the process idles.
        XCTAssertGreaterThan(try cpuLoad(pid, over: 1), 0.5, "the job computes")
        try tmux(["send-keys", "-t", session, "M"])
        screen = try waitFor(5, "the cached map and no job") {
            $0.contains("input-x-gradient → liver (1)") && $0.contains(" (p") && !$0.contains("Esc cancels")
        }
        XCTAssertLessThan(try cpuLoad(pid, over: 1.5), 0.3, "the job left behind stopped")

        // Back to IG: confirmed once, it starts at once. Pinned, it survives leaving and lands in the cache.
        try tmux(["send-keys", "-t", session, "m"])
        try waitFor(10, "the job again") { $0.contains("integrated-gradients → liver [") }
        try tmux(["send-keys", "-t", session, "P"])
        try waitFor(5, "the pin") { $0.contains("(pinned)") }
        try tmux(["send-keys", "-t", session, "M"])
        try waitFor(5, "input-x-gradient with the pinned job running") {
            $0.contains("Target liver (1) · input-x-gradi") && $0.contains("(pinned)")
        }
        XCTAssertGreaterThan(try cpuLoad(pid, over: 1), 0.5, "the pinned job computes on")
        try waitFor(120, "the pinned job to finish") { $0.contains("finished in the background") }
        try tmux(["send-keys", "-t", session, "m"])
        screen = try waitFor(5, "the pinned map from the cache") {
            $0.contains("integrated-gradients → liver (1)") && $0.contains(" (p")
        }
        XCTAssertTrue(screen.contains("completeness Δ") || screen.contains(" Δ "), "IG's delta in the sidebar:\n\(screen)")

        // R recomputes it; Esc lands within a window (one pass of the tiny model is ~0.1 s).
        try tmux(["send-keys", "-t", session, "R"])
        try waitFor(10, "the recompute") { $0.contains("(recompute) [") }
        usleep(500_000)
        let pressed = Date()
        try tmux(["send-keys", "-t", session, "Escape"])
        try waitFor(10, "the cancellation") { $0.contains("cancelled; R computes it again") }
        XCTAssertLessThan(Date().timeIntervalSince(pressed), 2, "Esc lands within one window's work")
        XCTAssertLessThan(try cpuLoad(pid, over: 1), 0.3, "nothing runs after Esc")
        try tmux(["send-keys", "-t", session, "q"])
        try waitFor(5, "a clean exit") { $0.contains("agg2exp-exit=0") }
    }
}
