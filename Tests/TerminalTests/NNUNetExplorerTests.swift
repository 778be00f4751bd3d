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
    /// The test's own tmux server (see `TmuxServer`).
    private var server: TmuxServer!
    private var workDir: URL!

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") else {
            throw missingPrerequisite("tmux is not installed")
        }
        guard agg2expExecutable() != nil else { throw missingPrerequisite("agg2exp binary not built next to the tests") }
        server = TmuxServer(executable: "/usr/bin/tmux", name: "agg2exp-nnunet-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))")
        workDir = URL(fileURLWithPath: try makeTemporaryDirectory(self))
    }

    override func tearDownWithError() throws {
        server?.shutDown()
    }

    @discardableResult
    private func waitFor(_ timeout: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line,
                         _ predicate: (String) -> Bool) throws -> String {
        try server.waitFor(timeout, what, file: file, line: line, predicate)
    }

    /// The shell command that opens `agg2exp view` on `arguments`, then prints its exit status.
    private func viewCommand(_ arguments: [String]) -> String {
        let quoted = arguments.map { "'\($0)'" }.joined(separator: " ")
        return "cd '\(workDir.path)' && env XDG_CACHE_HOME='\(workDir.path)/cache' TERM=xterm-256color LANG=C.UTF-8 "
            + "'\(agg2expExecutable()!.path)' view \(quoted); echo agg2exp-exit=$?; sleep 60"
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
        try server.start(viewCommand([scan] + models.flatMap { ["--model", $0] }), width: 180, height: 50)
        try waitFor(60, "the gradient of class 1") { $0.contains("gradient → ") && $0.contains(" (p") }
        for _ in 0..<nextTargets { try server.send("n") }
        try waitFor(60, "the gradient of \(target)") { $0.contains("gradient → \(target) (\(targetIndex))") && $0.contains(" (p") }

        let want = try reference(referenceCase)
        for (v, (ras, hu)) in zip(want.voxels, zip(want.ras, want.hu)).prefix(3) {
            try server.send(":")
            try server.send("-l", "\(v[0]) \(v[1]) \(v[2])")
            try server.send("Enter")
            let ijk = "ijk \(v[0]) \(v[1]) \(v[2])"
            let screen = try waitFor(10, ijk) { $0.contains(ijk + " │") }
            // The status line rounds to 0.1 mm and whole HU.
            let status = try XCTUnwrap(screen.split(separator: "\n").first { $0.contains(ijk + " │") })
            let field = try XCTUnwrap(status.range(of: #"RAS (-?[0-9.]+) (-?[0-9.]+) (-?[0-9.]+) mm"#, options: .regularExpression))
            let shown = status[field].dropFirst(4).dropLast(3).split(separator: " ").map { Double($0)! }
            for a in 0..<3 { XCTAssertEqual(shown[a], ras[a], accuracy: 0.05 + 1e-9, "\(referenceCase) \(ijk) RAS axis \(a)") }
            XCTAssertTrue(status.contains(String(format: "HU %.0f │", hu)), "\(referenceCase) HU \(hu) at \(ijk): \(status)")
        }

        try server.send("S")
        try waitFor(10, "the saved map") { $0.contains("Map saved to") }
        let saved = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: workDir.path)
            .first { $0.hasPrefix("gradient__\(target)__") && $0.hasSuffix(".nii.gz") })
        let map = try NIfTI.readVolume(workDir.appendingPathComponent(saved).path)
        try server.send("q")
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
        try server.restart(viewCommand([scan, "--attributions", scanMap, gradientMap] + models.flatMap { ["--model", $0] }),
                           width: 180, height: 50)
        // The status line's "METHOD → TARGET (INDEX)" and the probe's percentile: the map is shown
        // (the opening message names the method too, before the first frame shows it).
        try waitFor(60, "the imported maps") { $0.contains("ct-scaled → \(target) (") && $0.contains(" (p") }

        func saveShown(_ method: String) throws -> Volume {
            try server.send("S")
            try waitFor(10, "the saved \(method) map") { $0.contains("Map saved to") && $0.contains("\(method)__") }
            let name = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: workDir.path)
                .first { $0.hasPrefix("\(method)__\(target)__") && $0.hasSuffix(".nii.gz") })
            return try NIfTI.readVolume(workDir.appendingPathComponent(name).path)
        }
        let moved = try saveShown("ct-scaled")
        for (v, hu) in zip(want.voxels, want.hu) {
            XCTAssertEqual(Double(moved[v[0], v[1], v[2]]), hu * 1e-3, accuracy: huTolerance * 1e-3, "ct-scaled at \(v)")
        }
        try server.send("m")
        try waitFor(10, "the imported gradient") { $0.contains("gradient → \(target) (") && $0.contains(" (p") }
        XCTAssertEqual(try saveShown("gradient").voxels, try NIfTI.readVolume(gradientMap).voxels,
                       "the network-grid map is shown as it was written")
        try server.send("q")
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
