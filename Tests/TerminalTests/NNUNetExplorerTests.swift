import Engine
import Foundation
import TestSupport
import XCTest

/// `agg2exp view` on nnU-Net folders, under tmux: the map the explorer computes and saves (`S`)
/// equals `explain --grid model --out` on the same network grid, and the probe's ijk, RAS and HU
/// at a typed voxel are the ones nibabel, nnunetv2 and scipy give for it
/// (EngineTests/Fixtures/nnunet/make_view_geometry.py). Two cases on a 1.5 mm LPS crop of a real
/// CT: nnU-Net's pipeline resampling to 2 mm with transpose_forward [0, 2, 1], and a two-part
/// TotalSegmentator model (RAS, zoomed to 3 mm) explaining a class of its second part. Both maps
/// then open again with `view --attributions`, one of them from the scan's own grid.
final class NNUNetExplorerTests: XCTestCase {
    private static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EngineTests/Fixtures/nnunet")
    private let scan = fixtures.appendingPathComponent("resample_ct.nii.gz").path
    private var session = ""
    /// Each test runs its own tmux server (`-L`), so one test's shutdown never races the next's start.
    private var server = ""
    private var workDir: URL!

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") else {
            throw missingPrerequisite("tmux is not installed")
        }
        guard agg2expExecutable() != nil else { throw missingPrerequisite("agg2exp binary not built next to the tests") }
        session = "agg2exp-nnunet-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        server = session
        workDir = URL(fileURLWithPath: try makeTemporaryDirectory(self))
    }

    override func tearDownWithError() throws {
        if !server.isEmpty { tmux(["kill-server"]) }
    }

    /// Runs tmux through posix_spawn and waitpid (Foundation's Process can miss the exit of a
    /// client whose server inherited its descriptors); output, when asked for, via a file.
    @discardableResult
    private func tmux(_ args: [String], output: Bool = false) -> String {
        let outPath = workDir.appendingPathComponent("tmux-\(UUID().uuidString).out").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output ? outPath : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = (["/usr/bin/tmux"] + ["-L", server] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, argv[0]!, &actions, nil, argv, environ) == 0 else { return "" }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard output else { return "" }
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        return (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    }

    @discardableResult
    private func waitFor(_ timeout: Double, _ what: String, _ predicate: (String) -> Bool) throws -> String {
        let end = Date().addingTimeInterval(timeout)
        var screen = ""
        while Date() < end {
            screen = tmux(["capture-pane", "-p", "-t", session], output: true)
            if predicate(screen) { return screen }
            usleep(100_000)
        }
        XCTFail("timed out waiting for \(what); screen:\n\(screen)")
        return screen
    }

    private func start(_ arguments: [String]) {
        let quoted = arguments.map { "'\($0)'" }.joined(separator: " ")
        let command = "cd '\(workDir.path)' && env XDG_CACHE_HOME='\(workDir.path)/cache' TERM=xterm-256color LANG=C.UTF-8 "
            + "'\(agg2expExecutable()!.path)' view \(quoted); echo agg2exp-exit=$?; sleep 60"
        tmux(["new-session", "-d", "-s", session, "-x", "180", "-y", "50", command])
    }

    private func reference(_ name: String) throws -> (voxels: [[Int]], ras: [[Double]], hu: [Double]) {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("view_geometry.json"))
        let json = try XCTUnwrap(JSONValue.parse(data).object?[name]?.object)
        return (try XCTUnwrap(json["voxels"]?.array).map { $0.array!.map { $0.int! } },
                try XCTUnwrap(json["ras"]?.array).map { $0.array!.map { $0.number! } },
                try XCTUnwrap(json["hu"]?.array).map { $0.number! })
    }

    /// Opens the explorer, waits for `method → target`, checks the probe at the reference's
    /// voxels, saves the map and compares it with explain's; returns the saved map.
    private func checkExplorer(models: [String], referenceCase: String, target: String, targetIndex: Int,
                               nextTargets: Int, huTolerance: Double) throws {
        start([scan] + models.flatMap { ["--model", $0] })
        try waitFor(60, "the gradient of class 1") { $0.contains("gradient → ") && $0.contains(" (p") }
        for _ in 0..<nextTargets { tmux(["send-keys", "-t", session, "n"]) }
        try waitFor(60, "the gradient of \(target)") { $0.contains("gradient → \(target) (\(targetIndex))") && $0.contains(" (p") }

        let want = try reference(referenceCase)
        for (v, (ras, hu)) in zip(want.voxels, zip(want.ras, want.hu)).prefix(3) {
            tmux(["send-keys", "-t", session, ":"])
            tmux(["send-keys", "-t", session, "-l", "\(v[0]) \(v[1]) \(v[2])"])
            tmux(["send-keys", "-t", session, "Enter"])
            let ijk = "ijk \(v[0]) \(v[1]) \(v[2])"
            let screen = try waitFor(10, ijk) { $0.contains(ijk + " │") }
            // The status line rounds to 0.1 mm and whole HU.
            let status = try XCTUnwrap(screen.split(separator: "\n").first { $0.contains(ijk + " │") })
            let field = try XCTUnwrap(status.range(of: #"RAS (-?[0-9.]+) (-?[0-9.]+) (-?[0-9.]+) mm"#, options: .regularExpression))
            let shown = status[field].dropFirst(4).dropLast(3).split(separator: " ").map { Double($0)! }
            for a in 0..<3 { XCTAssertEqual(shown[a], ras[a], accuracy: 0.05 + 1e-9, "\(referenceCase) \(ijk) RAS axis \(a)") }
            XCTAssertTrue(status.contains(String(format: "HU %.0f │", hu)), "\(referenceCase) HU \(hu) at \(ijk): \(status)")
        }

        tmux(["send-keys", "-t", session, "S"])
        try waitFor(10, "the saved map") { $0.contains("Map saved to") }
        let saved = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: workDir.path)
            .first { $0.hasPrefix("gradient__\(target)__") && $0.hasSuffix(".nii.gz") })
        let map = try NIfTI.readVolume(workDir.appendingPathComponent(saved).path)
        tmux(["send-keys", "-t", session, "q"])
        try waitFor(10, "a clean exit") { $0.contains("agg2exp-exit=0") }

        let out = workDir.appendingPathComponent("explain.nii.gz").path
        let explain = try runAgg2Exp(["explain", scan, "--target", target, "--method", "gradient", "--grid", "model",
                                      "--out", out] + models.flatMap { ["--model", $0] })
        XCTAssertEqual(explain.status, 0, explain.stderr)
        let written = try NIfTI.readVolume(out)
        XCTAssertEqual(map.grid.dims, written.grid.dims)
        assertAffineClose(map.grid.affine, written.grid.affine, tol: 1e-4)
        XCTAssertEqual(map.voxels, written.voxels, "the explorer's map is explain's")
        XCTAssertTrue(map.voxels.contains { $0 != 0 })
        // The saved map's affine puts the voxels where the reference does.
        for (v, ras) in zip(want.voxels, want.ras) {
            let w = map.grid.world(Double(v[0]), Double(v[1]), Double(v[2]))
            XCTAssertLessThanOrEqual([w.x - ras[0], w.y - ras[1], w.z - ras[2]].map(abs).max()!, 1e-3, "\(v)")
        }
        try FileManager.default.removeItem(at: workDir.appendingPathComponent(saved))
        try checkImport(models: models, target: target, explained: out, reference: want, huTolerance: huTolerance)
    }

    /// `view --attributions` opens explain's network-grid map as it is, and a map on the scan's
    /// own grid (the CT × 1e-3, as method `ct-scaled`) moved as the CT was: saved again with `S`,
    /// the first equals explain's file and the second is the reference's HU × 1e-3.
    private func checkImport(models: [String], target: String, explained: String,
                             reference want: (voxels: [[Int]], ras: [[Double]], hu: [Double]),
                             huTolerance: Double) throws {
        let gradientMap = workDir.appendingPathComponent("gradient__\(target).nii.gz").path
        try FileManager.default.moveItem(atPath: explained, toPath: gradientMap)
        let ct = try NIfTI.readVolume(scan)
        let scanMap = workDir.appendingPathComponent("ct-scaled__\(target).nii.gz").path
        try NIfTI.write(Volume(grid: ct.grid, voxels: ct.voxels.map { $0 * 1e-3 }), to: scanMap)
        // The next run in a session of its own, started before the old one is killed: killing a
        // server's last session shuts the server down, and a session started meanwhile vanishes with it.
        let finished = session
        session += "-import"
        start([scan, "--attributions", scanMap, gradientMap] + models.flatMap { ["--model", $0] })
        tmux(["kill-session", "-t", finished])
        // The status line's "METHOD → TARGET (INDEX)" and the probe's percentile: the map is shown
        // (the opening message names the method too, before the first frame shows it).
        try waitFor(60, "the imported maps") { $0.contains("ct-scaled → \(target) (") && $0.contains(" (p") }

        func saveShown(_ method: String) throws -> Volume {
            tmux(["send-keys", "-t", session, "S"])
            try waitFor(10, "the saved \(method) map") { $0.contains("Map saved to") && $0.contains("\(method)__") }
            let name = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: workDir.path)
                .first { $0.hasPrefix("\(method)__\(target)__") && $0.hasSuffix(".nii.gz") })
            return try NIfTI.readVolume(workDir.appendingPathComponent(name).path)
        }
        let moved = try saveShown("ct-scaled")
        for (v, hu) in zip(want.voxels, want.hu) {
            XCTAssertEqual(Double(moved[v[0], v[1], v[2]]), hu * 1e-3, accuracy: huTolerance * 1e-3, "ct-scaled at \(v)")
        }
        tmux(["send-keys", "-t", session, "m"])
        try waitFor(10, "the imported gradient") { $0.contains("gradient → \(target) (") && $0.contains(" (p") }
        XCTAssertEqual(try saveShown("gradient").voxels, try NIfTI.readVolume(gradientMap).voxels,
                       "the network-grid map is shown as it was written")
        tmux(["send-keys", "-t", session, "q"])
        try waitFor(10, "a clean exit") { $0.contains("agg2exp-exit=0") }
    }

    func testNNUNetFolderMatchesExplainOnTheResampledNetworkGrid() throws {
        let folder = Self.fixtures.appendingPathComponent("resample_iso/nnUNetTrainer__nnUNetPlans__3d_fullres").path
        try checkExplorer(models: [folder], referenceCase: "nnunet", target: "bone", targetIndex: 2, nextTargets: 1,
                          huTolerance: 1e-2)
    }

    func testTotalSegmentatorPartsExplainThroughTheSecondPart() throws {
        let folders = ["Dataset291_TotalSegmentator_part1_fixture", "Dataset292_TotalSegmentator_part2_fixture"].map {
            Self.fixtures.appendingPathComponent("parts/\($0)/nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres").path
        }
        // The zoom is not truncated for a map: within 1 HU of the reference's int32 HU.
        try checkExplorer(models: folders, referenceCase: "totalsegmentator", target: "vertebrae_L1", targetIndex: 4,
                          nextTargets: 3, huTolerance: 1)
    }
}
