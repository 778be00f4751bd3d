import Foundation
import TestSupport
import XCTest

/// `agg2exp report` runs without a terminal and writes the same report the explorer exports.
final class ReportCommandTests: XCTestCase {
    private static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    private var binary: String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("agg2exp").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return nil
    }

    private func run(_ args: [String], in dir: URL) throws -> (status: Int32, out: String, err: String) {
        guard let binary else { throw missingPrerequisite("agg2exp binary not built next to the tests") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.currentDirectoryURL = dir
        var env = ProcessInfo.processInfo.environment
        env["AGG2EXP_SAMPLE_DATA"] = Self.repoRoot.appendingPathComponent("SampleData").path
        // Every run computes: the user's attribution cache is neither read nor filled.
        env["AGG2EXP_CACHE_MB"] = "0"
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    private static func sample(_ file: String) -> String {
        repoRoot.appendingPathComponent("SampleData").appendingPathComponent(file).path
    }

    private func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("agg2exp-report-cli-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func testReportAtACrosshairToAFile() throws {
        let dir = try tempDir()
        let r = try run(["report", Self.sample("example_ct.nii.gz"), "--labels", Self.sample("example_seg_fast_force_split.nii.gz"),
                         "--label-names", Self.sample("label_names.txt"), "--crosshair", "40,50,60", "--out", "r.txt"], in: dir)
        XCTAssertEqual(r.status, 0, r.err)
        let text = try String(contentsOf: dir.appendingPathComponent("r.txt"), encoding: .utf8)
        for needle in ["Provenance", "dims         122 x 101 x 112", "Planes at voxel 40 50 60",
                       "rank  segment", "liver"] {
            XCTAssertTrue(text.contains(needle), "report lacks '\(needle)'")
        }
        XCTAssertTrue(text.split(separator: "\n").contains { $0.hasPrefix("  voxel ") && $0.hasSuffix(" 40 50 60") },
                      "the probe names the crosshair voxel")
        XCTAssertFalse(text.contains("\u{1B}["))
    }

    func testANSIReportToATimestampedFile() throws {
        let dir = try tempDir()
        let r = try run(["report", Self.sample("example_ct.nii.gz"), "--ansi"], in: dir)
        XCTAssertEqual(r.status, 0, r.err)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(files.count, 1)
        XCTAssertTrue(files[0].hasPrefix("agg2exp-report-") && files[0].hasSuffix(".ansi.txt"), files[0])
        XCTAssertEqual(r.out.trimmingCharacters(in: .whitespacesAndNewlines), dir.appendingPathComponent(files[0]).path)
        let text = try String(contentsOf: dir.appendingPathComponent(files[0]), encoding: .utf8)
        XCTAssertTrue(text.contains("\u{1B}[0;38;2;"))
    }

    func testBadInputsAreClearErrors() throws {
        let dir = try tempDir()
        let outside = try run(["report", Self.sample("example_ct.nii.gz"), "--crosshair", "1,2,999"], in: dir)
        XCTAssertNotEqual(outside.status, 0)
        XCTAssertTrue(outside.err.contains("--crosshair must be I,J,K inside the volume"), outside.err)
        let missing = try run(["report", "/nonexistent/scan.nii.gz"], in: dir)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.contains("/nonexistent/scan.nii.gz"), missing.err)
        let unwritable = try run(["report", Self.sample("example_ct.nii.gz"), "--out", "/nonexistent/dir/r.txt"], in: dir)
        XCTAssertEqual(unwritable.status, 64)
        XCTAssertTrue(unwritable.err.hasPrefix("Error: /nonexistent/dir/r.txt: the output directory /nonexistent/dir does not exist\n"),
                      unwritable.err)
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "nothing half-written")
    }

    /// A tiny scan with the network test fixture as model: prediction, IG and ranking end to end.
    func testReportWithAModel() throws {
        let dir = try tempDir()
        let scan = Self.repoRoot.appendingPathComponent("Tests/TerminalTests/Fixtures/tiny_ct.nii.gz").path
        let model = Self.repoRoot.appendingPathComponent("Tests/EngineTests/Fixtures/network/instance").path
        let r = try run(["report", scan, "--model", model, "--target", "liver", "--method", "integrated-gradients",
                         "--out", "r.txt"], in: dir)
        XCTAssertEqual(r.status, 0, r.err)
        let text = try String(contentsOf: dir.appendingPathComponent("r.txt"), encoding: .utf8)
        for needle in ["labels              model prediction", "classes             0 background, 1 liver, 2 spleen",
                       "method              integrated-gradients", "target              liver (class 1)",
                       "steps               20", "baseline            zeros", "completeness delta",
                       "|a| Axial", "Ranking (integrated-gradients, target liver, abs, sorted by mass)"] {
            XCTAssertTrue(text.contains(needle), "report lacks '\(needle)'")
        }
        // Agg²Exp masses over all predicted segments (background included) sum to 1.
        let lines = text.split(separator: "\n")
        let start = lines.firstIndex { $0.contains("rank  segment") }!
        let masses = lines[(start + 1)...].compactMap { Double($0.split(separator: " ")[3]) }
        XCTAssertFalse(masses.isEmpty)
        XCTAssertEqual(masses.reduce(0, +), 1, accuracy: 5e-4, "four-decimal rounding per row")

        let unknown = try run(["report", scan, "--model", model, "--target", "pancreas"], in: dir)
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.err.contains("unknown target 'pancreas'"), unknown.err)
        let noModel = try run(["report", scan, "--method", "gradient"], in: dir)
        XCTAssertTrue(noModel.err.contains("--target and --method need a model"), noModel.err)
    }

    /// Naming the bundled sample CT explicitly keeps the bundled sample model, as running with no
    /// scan does.
    func testNamingTheSampleCTKeepsTheSampleModel() throws {
        let dir = try tempDir()
        let out = dir.appendingPathComponent("r.txt").path
        let r = try run(["report", Self.sample("example_ct.nii.gz"), "--out", out], in: dir)
        XCTAssertEqual(r.status, 0, r.err)
        let report = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(report.contains("labels       model prediction"), report)
        XCTAssertTrue(report.contains("SampleData/model (15 classes)"), report)
        XCTAssertTrue(report.contains("method       gradient"), report)
    }
}
