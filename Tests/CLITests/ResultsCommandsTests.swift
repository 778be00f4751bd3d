import Engine
import Foundation
import TestSupport
import XCTest

let officialCSV = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("EngineTests/Fixtures/official/tsv2_test_aggregated_sg_explanations_with_dice.csv")

final class ResultsCommandsTests: XCTestCase {
    func testGlobalPrintsAndWritesTheOfficialMedians() throws {
        let dir = URL(fileURLWithPath: try makeTemporaryDirectory(self))
        let json = dir.appendingPathComponent("global.json")
        let r = try runAgg2Exp(["global", officialCSV.path, "--target", "lung_lower_lobe_left", "--json", json.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(lines.dropFirst(2).prefix(4).map { [$0[0], $0[1]] },
                       [["lung_lower_lobe_left", "0.0969"], ["lung_upper_lobe_left", "0.0738"],
                        ["heart", "0.0283"], ["lung_lower_lobe_right", "0.0195"]])
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any]
        let segments = ((object?["targets"] as? [String: Any])?["lung_lower_lobe_left"] as? [String: Any])?["segments"]
            as? [String: [String: Any]]
        XCTAssertEqual(try XCTUnwrap(segments?["heart"]?["median"] as? Double), 0.0283, accuracy: 5e-5)
        XCTAssertEqual(segments?["heart"]?["n"] as? Int, 32)
        XCTAssertNil(segments?["background"])
    }

    func testGlobalRejectsAnUnknownTargetListingValidNames() throws {
        let r = try runAgg2Exp(["global", officialCSV.path, "--target", "liver"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("unknown target \"liver\"; valid targets: background, aorta,"), r.stderr)
        XCTAssertTrue(r.stderr.contains("costal_cartilages"), r.stderr)
    }

    func testMergeOfSplitPartsRebuildsTheTable() throws {
        let dir = URL(fileURLWithPath: try makeTemporaryDirectory(self))
        let table = try ResultsTable.read(officialCSV)
        var parts: [String] = []
        for (s, shard) in [Shard(index: 1, count: 2), Shard(index: 0, count: 2)].enumerated() {
            var part = ResultsTable(columns: table.columns)
            for r in shard.select(Array(table.patients.indices)) {
                let values = Dictionary(uniqueKeysWithValues: zip(table.columns, table.rows[r]))
                try part.append(patient: table.patients[r], values: values)
            }
            let url = dir.appendingPathComponent("part\(s).csv")
            try part.write(to: url)
            parts.append(url.path)
        }
        let merged = dir.appendingPathComponent("merged.csv")
        let r = try runAgg2Exp(["merge"] + parts + ["--csv", merged.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try ResultsTable.read(merged), table)
    }

    func testMergeRejectsMismatchedColumns() throws {
        let dir = URL(fileURLWithPath: try makeTemporaryDirectory(self))
        let a = dir.appendingPathComponent("a.csv"), b = dir.appendingPathComponent("b.csv")
        try "patient,x_dice,y_dice\np1,1,2\n".write(to: a, atomically: true, encoding: .utf8)
        try "patient,x_dice\np2,1\n".write(to: b, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.csv")
        let r = try runAgg2Exp(["merge", a.path, b.path, "--csv", out.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("\(b.path): columns differ from \(a.path): missing \"y_dice\""), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }
}
