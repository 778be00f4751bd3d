import Engine
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import TestSupport
import XCTest

/// The dataset-level analysis commands on the official results CSV, and their bad-input errors.
final class AnalysisCommandsTests: XCTestCase {
    private func assertWellFormedSVG(_ path: String, contains text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let parser = XMLParser(data: data)
        XCTAssertTrue(parser.parse(), "\(path): \(parser.parserError.map { "\($0)" } ?? "")", file: file, line: line)
        let xml = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(xml.contains("<svg"), file: file, line: line)
        XCTAssertTrue(xml.contains(text), "\(text) not in \(path)", file: file, line: line)
    }

    /// A results CSV with the given header and rows, in the test's temporary directory.
    private func writeCSV(_ text: String, _ name: String) throws -> String {
        let path = try makeTemporaryDirectory(self) + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testMatrixPrintsTheHeatmapAndWritesCSVAndSVG() throws {
        let dir = try makeTemporaryDirectory(self)
        let r = try runAgg2Exp(["matrix", officialCSV.path, "--csv", dir + "/m.csv", "--svg", dir + "/m.svg"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let row = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("lung_lower_lobe_left ") })
        XCTAssertTrue(row.contains(".078▓ .106▓"), String(row))
        let m = try ResultsTable.parse(try String(contentsOfFile: dir + "/m.csv", encoding: .utf8)
            .replacingOccurrences(of: "explained_class", with: "patient"), source: "m.csv")
        let thyroid = try XCTUnwrap(m.patients.firstIndex(of: "thyroid_gland"))
        XCTAssertEqual(try XCTUnwrap(m.column("lung_upper_lobe_right")?[thyroid] ?? nil), 0.156, accuracy: 5e-4)
        try assertWellFormedSVG(dir + "/m.svg", contains: "Global mean mass of explanation")
        let median = try runAgg2Exp(["matrix", officialCSV.path, "--stat", "median"])
        XCTAssertTrue(median.stdout.hasPrefix("Global median mass"), median.stdout)
    }

    func testGraphPrintsAdjacencyWritesDOTAndLaysOutSVG() throws {
        let dir = try makeTemporaryDirectory(self)
        let r = try runAgg2Exp(["graph", officialCSV.path, "--top-k", "3", "--svg", dir + "/g.svg"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("thyroid_gland          ← lung_upper_lobe_right  0.156 ████████████████████████"),
                      r.stdout)
        let dot = try String(contentsOfFile: dir + "/g.dot", encoding: .utf8)
        XCTAssertTrue(dot.hasPrefix("digraph dependencies {"), dot)
        XCTAssertEqual(dot.components(separatedBy: " -> ").count - 1, 48)
        try assertWellFormedSVG(dir + "/g.svg", contains: "thyroid gland")
    }

    func testGraphSVGWithoutGraphvizSaysSoAndKeepsTheDOT() throws {
        let dir = try makeTemporaryDirectory(self)
        let r = try runAgg2Exp(["graph", officialCSV.path, "--svg", dir + "/g.svg"], environment: ["PATH": dir])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("--svg needs Graphviz `dot` on PATH (Debian: apt-get install graphviz); "
                                        + "the DOT file was written to \(dir)/g.dot"), r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/g.dot"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/g.svg"))
    }

    func testGraphRejectsAThresholdOutsideTheUnitInterval() throws {
        for bad in ["0", "1.5"] {
            let r = try runAgg2Exp(["graph", officialCSV.path, "--cumulative", bad])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("cumulative mass threshold \(Double(bad)!) is outside (0, 1]"), r.stderr)
        }
    }

    func testGraphRejectsABadTopKAndSignedEdgesWithoutSignedColumns() throws {
        let k = try runAgg2Exp(["graph", officialCSV.path, "--top-k", "0"])
        XCTAssertEqual(k.status, 1)
        XCTAssertTrue(k.stderr.contains("--top-k 0 must be at least 1"), k.stderr)
        let both = try runAgg2Exp(["graph", officialCSV.path, "--top-k", "3", "--cumulative", "0.3"])
        XCTAssertEqual(both.status, 64)
        XCTAssertTrue(both.stderr.contains("give either --top-k or --cumulative, not both"), both.stderr)
        let signed = try runAgg2Exp(["graph", officialCSV.path, "--sign", "both"])
        XCTAssertEqual(signed.status, 1)
        XCTAssertTrue(signed.stderr.contains("\(officialCSV.path): no {target}_explanation_in_{roi}_mass_pos columns"),
                      signed.stderr)
    }

    func testGroupsFileNamingUnknownClassesIsRejected() throws {
        let groups = try writeCSV(##"{"groups": {"organs": "#7F7F7F"}, "classes": {"heart": "organs", "liver": "organs"}}"##,
                                  "groups.json")
        for command in ["matrix", "graph", "context", "cluster", "outliers"] {
            let r = try runAgg2Exp([command, officialCSV.path, "--groups", groups])
            XCTAssertEqual(r.status, 1, command)
            XCTAssertTrue(r.stderr.contains("\(groups): names classes that are not in the results: \"liver\""),
                          "\(command): \(r.stderr)")
        }
    }

    func testContextRanksSelfMassAndMarksAScan() throws {
        let dir = try makeTemporaryDirectory(self)
        let r = try runAgg2Exp(["context", officialCSV.path, "--scan", "s0029", "--svg", dir + "/c.svg"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertTrue(lines[0].contains("(○ = s0029)"), String(lines[0]))
        XCTAssertTrue(lines[2].hasPrefix("lung_lower_lobe_right  0.1265"), String(lines[2]))
        XCTAssertTrue(lines.last!.hasPrefix("thyroid_gland          0.0027"), String(lines.last!))
        try assertWellFormedSVG(dir + "/c.svg", contains: "Mass of explanation inside the segmented class")
    }

    func testContextNamesTheMissingSelfMassColumns() throws {
        let csv = try writeCSV("patient,a_explanation_in_b_mass,b_explanation_in_b_mass\np1,0.5,0.5\n", "r.csv")
        let r = try runAgg2Exp(["context", csv])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("\(csv): the self-mass (context) analysis needs columns that are missing: "
                                        + "\"a_explanation_in_a_mass\""), r.stderr)
    }

    func testMatrixOnACSVWithoutMassColumnsNamesThePattern() throws {
        let csv = try writeCSV("patient,heart_dice\np1,0.9\n", "r.csv")
        let r = try runAgg2Exp(["matrix", csv])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("\(csv): no {target}_explanation_in_{roi}_mass columns"), r.stderr)
        let pos = try runAgg2Exp(["matrix", officialCSV.path, "--process", "pos"])
        XCTAssertEqual(pos.status, 1)
        XCTAssertTrue(pos.stderr.contains("no {target}_explanation_in_{roi}_mass_pos columns (written when positive"),
                      pos.stderr)
    }

    func testClusterPrintsTheDendrogramAndWritesNewickAndSVG() throws {
        let dir = try makeTemporaryDirectory(self)
        let r = try runAgg2Exp(["cluster", officialCSV.path, "--newick", dir + "/t.nwk", "--svg", dir + "/t.svg"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("cophenetic correlation 0.7391"), r.stdout)
        let newick = try String(contentsOfFile: dir + "/t.nwk", encoding: .utf8)
        XCTAssertTrue(newick.hasSuffix(");\n"))
        XCTAssertTrue(newick.contains("(lung_lower_lobe_left:0.132448,lung_upper_lobe_left:0.132448)"), newick)
        try assertWellFormedSVG(dir + "/t.svg", contains: "average linkage")
        let ward = try runAgg2Exp(["cluster", officialCSV.path, "--method", "ward"])
        XCTAssertTrue(ward.stdout.contains("cophenetic correlation 0.6309"), ward.stdout)
    }

    func testOutliersReportDiceCorrelationAndWriteScores() throws {
        let dir = try makeTemporaryDirectory(self)
        let r = try runAgg2Exp(["outliers", officialCSV.path, "--csv", dir + "/o.csv", "--svg", dir + "/o.svg"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("Spearman ρ(mean score, mean Dice) = "), r.stdout)
        let scores = try ResultsTable.read(URL(fileURLWithPath: dir + "/o.csv"))
        XCTAssertEqual(scores.patients.count, 32)
        XCTAssertEqual(scores.columns.count, 18)
        XCTAssertEqual(scores.columns.last, "mean_outlier_score")
        try assertWellFormedSVG(dir + "/o.svg", contains: "Outlier score vs Dice")
        let one = try runAgg2Exp(["outliers", officialCSV.path, "--target", "heart", "--scan", "s0802"])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertTrue(one.stdout.contains("heart: 32 scans, most anomalous first"), one.stdout)
        XCTAssertTrue(one.stdout.contains("○ s0802"), one.stdout)
    }

    func testOutliersRejectAClassWithFewerThanTwoScans() throws {
        let csv = try writeCSV("patient,a_explanation_in_a_mass,a_explanation_in_b_mass\np1,0.5,0.5\n", "r.csv")
        let r = try runAgg2Exp(["outliers", csv])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("\(csv): class \"a\" has 1 scan with a complete mass vector; "
                                        + "the outlier model needs at least 2"), r.stderr)
    }

    func testOutliersNameColumnsMissingFromTheScoredCSV() throws {
        let scored = try writeCSV("patient,heart_explanation_in_heart_mass\np1,0.5\n", "scored.csv")
        let r = try runAgg2Exp(["outliers", officialCSV.path, scored, "--target", "heart"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("\(scored): scoring class \"heart\" needs columns that are missing: "
                                        + "\"heart_explanation_in_background_mass\""), r.stderr)
    }
}
