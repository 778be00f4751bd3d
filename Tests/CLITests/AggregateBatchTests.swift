import Engine
import Foundation
import TestSupport
import XCTest

/// `aggregate` as a batch: rows are flushed one by one, failures are recorded and skipped, and
/// `--resume` finishes an interrupted run so that the result equals an uninterrupted one byte for
/// byte.
final class AggregateBatchTests: XCTestCase {
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EngineTests/Fixtures/network/batch").path

    func writeScan(_ path: String, dims: [Int] = [24, 20, 12], seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let grid = Grid(dims: dims, affine: .scaling([1.5, 1.5, 1.5]))
        try NIfTI.write(Volume(grid: grid, voxels: (0..<grid.voxelCount).map { _ in Float(400 * rng.normal()) }), to: path)
    }

    func aggregate(_ scans: [String], csv: String, extra: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        try runAgg2Exp(["aggregate"] + scans + ["--model", Self.model, "--method", "gradient", "--targets", "organ",
                                                 "--csv", csv] + extra)
    }

    func text(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    func testAFailingScanIsRecordedAndTheOthersAreKept() throws {
        let dir = try makeTemporaryDirectory(self)
        try writeScan(dir + "/a.nii.gz", seed: 1)
        try "not a NIfTI file".write(toFile: dir + "/b.nii.gz", atomically: false, encoding: .utf8)
        try writeScan(dir + "/c.nii.gz", seed: 3)
        let batch = try aggregate([dir + "/a.nii.gz", dir + "/b.nii.gz", dir + "/c.nii.gz"], csv: dir + "/out.csv")
        XCTAssertEqual(batch.status, 2, batch.stderr)
        XCTAssertTrue(batch.stderr.contains("error: \(dir)/b.nii.gz: check: \(dir)/b.nii.gz: not a NIfTI-1/NIfTI-2 file "
                                            + "(bad header size or magic)\n"), batch.stderr)
        XCTAssertTrue(batch.stderr.hasSuffix("error: 1 of 3 scans failed; see \(dir)/out.csv.errors.json\n"), batch.stderr)
        let errors = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: dir + "/out.csv.errors.json"))) as? [[String: String]])
        XCTAssertEqual(errors, [["scan": dir + "/b.nii.gz", "stage": "check",
                                 "message": "\(dir)/b.nii.gz: not a NIfTI-1/NIfTI-2 file (bad header size or magic)"]])
        // The kept rows are exactly those of a run over the good scans alone.
        let good = try aggregate([dir + "/a.nii.gz", dir + "/c.nii.gz"], csv: dir + "/good.csv")
        XCTAssertEqual(good.status, 0, good.stderr)
        XCTAssertEqual(try text(dir + "/out.csv"), try text(dir + "/good.csv"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/good.csv.errors.json"))
    }

    func testResumeAfterAKillKeepsFinishedRowsAndRedoesTheRest() throws {
        guard let exe = agg2expExecutable() else { throw missingPrerequisite("agg2exp executable not built") }
        let dir = try makeTemporaryDirectory(self)
        // a is small; b is large enough (about 1000 windows) to be killed while it runs.
        try writeScan(dir + "/a.nii.gz", seed: 1)
        try writeScan(dir + "/b.nii.gz", dims: [160, 160, 96], seed: 2)
        let scans = [dir + "/a.nii.gz", dir + "/b.nii.gz"]
        let p = Process()
        p.executableURL = exe
        p.arguments = ["aggregate"] + scans + ["--model", Self.model, "--method", "gradient", "--targets", "organ",
                                               "--csv", dir + "/out.csv"]
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait for a's row to be flushed, then kill without warning.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, ((try? text(dir + "/out.csv")) ?? "").split(separator: "\n").count < 2 { usleep(20_000) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal, "the run finished before it could be killed")
        let partial = try text(dir + "/out.csv").split(separator: "\n")
        XCTAssertEqual(partial.count, 2, "header and a's row")
        XCTAssertTrue(partial[1].hasPrefix("a,"))

        // Replace b by a small scan, resume, and compare with an uninterrupted run.
        try writeScan(dir + "/b.nii.gz", seed: 2)
        let resumed = try aggregate(scans, csv: dir + "/out.csv", extra: ["--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("[1/2] \(dir)/a.nii.gz: already in \(dir)/out.csv, skipped"), resumed.stderr)
        let fresh = try aggregate(scans, csv: dir + "/fresh.csv")
        XCTAssertEqual(fresh.status, 0, fresh.stderr)
        XCTAssertEqual(try text(dir + "/out.csv"), try text(dir + "/fresh.csv"))
    }

    func testResumeDropsARowCutShortAndRefusesOtherColumns() throws {
        let dir = try makeTemporaryDirectory(self)
        try writeScan(dir + "/a.nii.gz", seed: 1)
        try writeScan(dir + "/b.nii.gz", seed: 2)
        let scans = [dir + "/a.nii.gz", dir + "/b.nii.gz"]
        XCTAssertEqual(try aggregate(scans, csv: dir + "/full.csv").status, 0)
        let full = try text(dir + "/full.csv")
        // A kill during the append of b's row leaves it without its newline.
        let lines = full.split(separator: "\n", omittingEmptySubsequences: false)
        let cut = lines[0] + "\n" + lines[1] + "\n" + lines[2].prefix(10)
        try cut.write(toFile: dir + "/out.csv", atomically: false, encoding: .utf8)
        let resumed = try aggregate(scans, csv: dir + "/out.csv", extra: ["--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.hasPrefix("\(dir)/out.csv: dropping an incomplete last row\n"), resumed.stderr)
        XCTAssertEqual(try text(dir + "/out.csv"), full)

        // Resuming into a CSV made with other targets is refused before any work.
        let other = try runAgg2Exp(["aggregate"] + scans + ["--model", Self.model, "--method", "gradient",
                                                             "--targets", "vessel", "--csv", dir + "/out.csv", "--resume"])
        XCTAssertEqual(other.status, 1)
        XCTAssertTrue(other.stderr.hasPrefix("error: \(dir)/out.csv: columns differ from this run's columns: missing "
                                             + "\"vessel_explanation_in_background_mass\""), other.stderr)
        XCTAssertEqual(try text(dir + "/out.csv"), full)
    }
}
