import Foundation
import TestSupport
import XCTest

/// Runs the real `agg2exp` binary under tmux on the bundled sample, sends keys, and checks the
/// captured screen and the exported report. Skipped when tmux or the built binary is missing
/// (scripts/test.sh builds the binary before running the tests).
final class TmuxEndToEndTests: XCTestCase {
    /// The test's own tmux server (see `TmuxServer`).
    var server: TmuxServer!
    var session: String { server.session }
    var workDir: URL!

    private static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    private func which(_ tool: String) -> String? {
        for dir in ["/usr/bin", "/usr/local/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(tool)") {
            return "\(dir)/\(tool)"
        }
        return nil
    }

    /// The agg2exp executable next to this test bundle (same build configuration).
    private var binary: String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("agg2exp").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return nil
    }

    @discardableResult
    func tmux(_ args: [String], output: Bool = false) throws -> String { try server.run(args, output: output).output }

    func capture() throws -> String { try server.capture() }

    /// Polls the pane until `predicate` holds (up to `timeout` seconds); returns the last capture.
    @discardableResult
    func waitFor(_ timeout: Double = 20, _ what: String, file: StaticString = #filePath, line: UInt = #line,
                 _ predicate: (String) -> Bool) throws -> String {
        try server.waitFor(timeout, what, file: file, line: line, predicate)
    }

    override func setUpWithError() throws {
        guard let tmux = which("tmux") else { throw missingPrerequisite("tmux is not installed") }
        guard binary != nil else { throw missingPrerequisite("agg2exp binary not built next to the tests") }
        let name = "agg2exp-e2e-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        server = TmuxServer(executable: tmux, name: name)
        workDir = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        server?.shutDown()
        if let workDir { try? FileManager.default.removeItem(at: workDir) }
    }

    /// The shell command that runs agg2exp with `env` and `arguments`, then prints its exit status.
    private func command(_ env: String, _ arguments: String) -> String {
        let sample = Self.repoRoot.appendingPathComponent("SampleData").path
        // The attribution cache goes into the test's own directory unless the test names one.
        return "cd '\(workDir.path)' && env XDG_CACHE_HOME='\(workDir.path)/cache' \(env) "
            + "AGG2EXP_SAMPLE_DATA='\(sample)' '\(binary!)' \(arguments); "
            + "echo agg2exp-exit=$?; sleep 60"
    }

    func start(_ env: String, arguments: String = "", width: Int = 160, height: Int = 48) throws {
        try server.start(command(env, arguments), width: width, height: height)
    }

    /// The next run in a session of its own, opened before the old one is killed (`TmuxServer`).
    func restart(_ env: String, arguments: String = "", width: Int = 160, height: Int = 48) throws {
        try server.restart(command(env, arguments), width: width, height: height)
    }

    func testPlanesSidebarKeysAndExport() throws {
        let sample = Self.repoRoot.appendingPathComponent("SampleData").path
        // A copy, so it is a scan of its own and not the bundled sample (which brings its model).
        let scan = workDir.appendingPathComponent("ct.nii.gz").path
        try FileManager.default.copyItem(atPath: "\(sample)/example_ct.nii.gz", toPath: scan)
        try start("TERM=xterm-256color LANG=C.UTF-8", arguments: "view '\(scan)' --labels "
                  + "'\(sample)/example_seg_fast_force_split.nii.gz' --label-names '\(sample)/label_names.txt'")
        var screen = try waitFor(20, "the first frame") { $0.contains("Axial") && $0.contains("ijk ") }
        for needle in ["Axial", "Coronal", "Sagittal", "colon", "liver", "W/L 400/40 soft tissue"] {
            XCTAssertTrue(screen.contains(needle), "screen lacks '\(needle)'")
        }
        // Slices step with PageUp in the focused (axial) pane.
        XCTAssertTrue(screen.contains("k 56/111"), "slices count from 0 as in the status line")
        try tmux(["send-keys", "-t", session, "PageUp", "PageUp"])
        try waitFor(5, "two slices up, and the key hints") { $0.contains("k 58/111") && $0.contains("? help") }
        // Window preset cycles.
        try tmux(["send-keys", "-t", session, "w"])
        try waitFor(5, "the lung window") { $0.contains("W/L 1500/-600 lung") }
        // Help overlay, generated from the key table, opens and closes.
        try tmux(["send-keys", "-t", session, "?"])
        try waitFor(5, "the help overlay") { $0.contains("Keys") && $0.contains("move crosshair left") }
        try tmux(["send-keys", "-t", session, "Escape"])
        screen = try waitFor(5, "help to close") { !$0.contains("move crosshair left") }
        // Export writes a report into the working directory and names it in the status line.
        try tmux(["send-keys", "-t", session, "e"])
        screen = try waitFor(10, "the export message") { $0.contains("Report written to") }
        let files = try FileManager.default.contentsOfDirectory(atPath: workDir.path).filter { $0.hasPrefix("agg2exp-report") }
        XCTAssertEqual(files.count, 1)
        let report = try String(contentsOf: workDir.appendingPathComponent(files[0]), encoding: .utf8)
        for needle in ["Provenance", "ct.nii.gz", "dims         122 x 101 x 112", "orientation  RAS",
                       "Planes at voxel 61 50 58", "rank  segment", "window  W/L 1500/-600 lung"] {
            XCTAssertTrue(report.contains(needle), "report lacks '\(needle)'")
        }
        try tmux(["send-keys", "-t", session, "q"])
        try waitFor(5, "a clean exit") { $0.contains("agg2exp-exit=0") }
    }

    func testDegradedTerminalsDoNotBreak() throws {
        // ASCII locale, no colours, then a burst of resizes down to below the minimum size.
        let sample = Self.repoRoot.appendingPathComponent("SampleData").path
        try start("TERM=xterm-256color LANG=C LC_ALL=C NO_COLOR=1", arguments: "view '\(sample)/example_ct.nii.gz'",
                  width: 100, height: 30)
        let screen = try waitFor(20, "the first frame") { $0.contains("Axial") }
        XCTAssertTrue(screen.unicodeScalars.allSatisfy(\.isASCII), "ASCII only in a C locale")
        for i in 0..<20 {
            try tmux(["resize-window", "-t", session, "-x", "\(40 + (i * 37) % 160)", "-y", "\(10 + (i * 13) % 50)"])
        }
        try tmux(["resize-window", "-t", session, "-x", "70", "-y", "20"])
        try waitFor(5, "the small-terminal message") { $0.contains("Terminal too small: 70x20.") }
        try tmux(["resize-window", "-t", session, "-x", "100", "-y", "30"])
        try waitFor(5, "the layout again") { $0.contains("Sagittal") }
        try tmux(["send-keys", "-t", session, "q"])
        try waitFor(5, "a clean exit") { $0.contains("agg2exp-exit=0") }
    }

    func testDumbTerminalGetsAClearError() throws {
        try start("TERM=dumb")
        let screen = try waitFor(10, "the error") { $0.contains("agg2exp-exit=") }
        XCTAssertTrue(screen.contains("TERM=dumb cannot position the cursor"))
        XCTAssertFalse(screen.contains("agg2exp-exit=0"))
    }

    /// With a (tiny) model: the prediction and the gradient compute behind the progress bar, the
    /// sidebar ranks the model's classes, Esc cancels a running method, and cached results return.
    func testWithAModelRanksComputesAndCancels() throws {
        let scan = Self.repoRoot.appendingPathComponent("Tests/TerminalTests/Fixtures/tiny_ct.nii.gz").path
        let model = Self.repoRoot.appendingPathComponent("Tests/EngineTests/Fixtures/network/instance").path
        try start("TERM=xterm-256color LANG=C.UTF-8", arguments: "view '\(scan)' --model '\(model)'")
        // The probe's percentile appears once the attribution is in.
        var screen = try waitFor(120, "the attribution") { $0.contains("Target liver (1) · gradient") && $0.contains(" (p") }
        for name in ["background", "spleen", "kidney"] where !screen.contains(name) {
            XCTFail("sidebar lacks \(name)")
        }
        // SmoothGrad takes 20 passes: long enough to cancel.
        try tmux(["send-keys", "-t", session, "m", "m", "m"])
        try waitFor(20, "SmoothGrad to start") { $0.contains("smoothgrad → liver") }
        try tmux(["send-keys", "-t", session, "Escape"])
        try waitFor(30, "the cancellation") { $0.contains("smoothgrad for class 1 cancelled") }
        try tmux(["send-keys", "-t", session, "M", "M", "M"])
        screen = try waitFor(10, "the cached gradient") { $0.contains("Target liver (1) · gradient") && $0.contains(" (p") }
        try tmux(["send-keys", "-t", session, "e"])
        try waitFor(10, "the export message") { $0.contains("Report written to") }
        let files = try FileManager.default.contentsOfDirectory(atPath: workDir.path).filter { $0.hasPrefix("agg2exp-report") }
        let report = try String(contentsOf: workDir.appendingPathComponent(try XCTUnwrap(files.first)), encoding: .utf8)
        XCTAssertTrue(report.contains("Ranking (gradient, target liver, abs, sorted by mass)"))
        try tmux(["send-keys", "-t", session, "q"])
        try waitFor(5, "a clean exit") { $0.contains("agg2exp-exit=0") }
    }

    var tinyScan: String { Self.repoRoot.appendingPathComponent("Tests/TerminalTests/Fixtures/tiny_ct.nii.gz").path }
    var tinyModel: String { Self.repoRoot.appendingPathComponent("Tests/EngineTests/Fixtures/network/instance").path }

    /// The first run computes the prediction and the gradient and stores both on disk; the second
    /// run shows the map from the cache (its notice says so) without computing it again.
    func testCacheReopensWithoutRecompute() throws {
        try start("TERM=xterm-256color LANG=C.UTF-8", arguments: "view '\(tinyScan)' --model '\(tinyModel)'")
        try waitFor(120, "the attribution") { $0.contains("Target liver (1) · gradient") && $0.contains(" (p") }
        try tmux(["send-keys", "-t", session, "q"])
        try waitFor(5, "a clean exit") { $0.contains("agg2exp-exit=0") }
        let entries = workDir.appendingPathComponent("cache/agg2exp/attributions").path
        let stored = try FileManager.default.contentsOfDirectory(atPath: entries).filter { $0.hasSuffix(".a2xc") }
        XCTAssertEqual(stored.count, 2, "the prediction and the gradient map")
        try restart("TERM=xterm-256color LANG=C.UTF-8", arguments: "view '\(tinyScan)' --model '\(tinyModel)'")
        let screen = try waitFor(20, "the cached map") {
            $0.contains("gradient → liver from the cache") && $0.contains(" (p")
        }
        XCTAssertFalse(screen.contains("predicting"), "the prediction came from the cache too")
        try tmux(["send-keys", "-t", session, "q"])
        try waitFor(5, "a clean exit") { $0.contains("agg2exp-exit=0") }
    }

    /// `explain --out` writes a map under the file-name convention; `view --attributions` opens it
    /// (with an empty cache, so nothing but the prediction is computed) and ranks what explain ranked.
    func testAttributionsOpenAMapWrittenByExplain() throws {
        let maps = workDir.appendingPathComponent("maps")
        try FileManager.default.createDirectory(at: maps, withIntermediateDirectories: true)
        let out = maps.appendingPathComponent("integrated-gradients__liver.nii.gz").path
        let explain = try runAgg2Exp(["explain", tinyScan, "--model", tinyModel, "--target", "liver",
                                      "--method", "integrated-gradients", "--steps", "4", "--out", out])
        XCTAssertEqual(explain.status, 0, explain.stderr)
        // explain's ranking: "  <segment> <mass> <mean> <voxels>" rows under the header, by mass.
        let rows = explain.stdout.split(separator: "\n").drop { !$0.contains("segment") }.dropFirst()
        let top = try XCTUnwrap(rows.first?.split(separator: " ").first.map(String.init))
        try start("TERM=xterm-256color LANG=C.UTF-8",
                  arguments: "view '\(tinyScan)' --model '\(tinyModel)' --attributions '\(maps.path)'")
        let screen = try waitFor(120, "the imported map") {
            $0.contains("integrated-gradients → liver (1)") && $0.contains(" (p")
        }
        XCTAssertTrue(screen.contains("Opened integrated-gradients → liver from"), screen)
        let lines = screen.split(separator: "\n")
        let header = try XCTUnwrap(lines.firstIndex { $0.contains("#   segment") })
        XCTAssertTrue(lines[header + 1].contains(" \(top) "), "the sidebar's first row is explain's top segment \(top)")
        let entries = (try? FileManager.default.contentsOfDirectory(
            atPath: workDir.appendingPathComponent("cache/agg2exp/attributions").path)) ?? []
        XCTAssertEqual(entries.filter { $0.hasSuffix(".a2xc") }.count, 1,
                       "only the prediction was cached: the imported map was not recomputed")
        try tmux(["send-keys", "-t", session, "q"])
        try waitFor(5, "a clean exit") { $0.contains("agg2exp-exit=0") }
    }

    /// `TERM=xterm` has 8 colours: the CT must be drawn from the palette's greys (black and grey,
    /// with shading glyphs between), never hues. Reads the colours tmux holds for every CT cell
    /// of the axial pane (a scan copy without model or labels, crosshair hidden).
    func testEightColourTerminalDrawsTheCTInGreys() throws {
        let scan = workDir.appendingPathComponent("ct.nii.gz").path
        try FileManager.default.copyItem(atPath: Self.repoRoot.appendingPathComponent("SampleData/example_ct.nii.gz").path,
                                         toPath: scan)
        try start("TERM=xterm LANG=C.UTF-8", arguments: "view '\(scan)'", width: 120, height: 36)
        try waitFor(20, "the first frame") { $0.contains("Axial") && $0.contains("ijk ") }
        try tmux(["send-keys", "-t", session, "c", "c"])
        try waitFor(5, "the crosshair to hide") { $0.contains("Crosshair: off") }
        let styled = try tmux(["capture-pane", "-p", "-e", "-t", session], output: true)
        // Walk each line's SGR sequences, keeping the current foreground and background codes.
        var styles = Set<[Int]>(), hues = Set<Int>()
        let shading = Set("▀▄█░▒▓".unicodeScalars)
        for line in styled.split(separator: "\n").dropFirst().prefix(30) {
            var fg = 39, bg = 49
            var scalars = Array(line.unicodeScalars)[...]
            while let c = scalars.popFirst() {
                if c == "\u{1b}", scalars.first == "[" {
                    scalars.removeFirst()
                    var params = ""
                    while let p = scalars.popFirst(), p != "m" { params.unicodeScalars.append(p) }
                    for code in params.split(separator: ";").compactMap({ Int($0) }) {
                        if code == 0 { (fg, bg) = (39, 49) }
                        if (30...39).contains(code) || (90...97).contains(code) { fg = code }
                        if (40...49).contains(code) || (100...107).contains(code) { bg = code }
                    }
                    continue
                }
                // The axial pane ends at the first separator.
                if c == "│" { break }
                guard shading.contains(c) else { continue }
                styles.insert([Int(c.value), fg, bg])
                for code in [fg, bg] where ![30, 37, 39, 40, 47, 49].contains(code) { hues.insert(code) }
            }
        }
        XCTAssertTrue(hues.isEmpty, "CT cells use colour codes \(hues.sorted()) (only black and grey exist at 8 colours)")
        XCTAssertGreaterThan(styles.count, 2, "the CT shows several grey levels")
        try tmux(["send-keys", "-t", session, "q"])
        try waitFor(5, "a clean exit") { $0.contains("agg2exp-exit=0") }
    }
}
