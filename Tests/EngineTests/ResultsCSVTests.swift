import Engine
import Foundation
import TestSupport
import XCTest

/// The official results CSV shipped as a fixture (see Fixtures/official/NOTICE).
func officialResultsURL() throws -> URL {
    try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/official/tsv2_test_aggregated_sg_explanations_with_dice",
                                    withExtension: "csv"))
}

final class ResultsCSVTests: XCTestCase {
    func testReadsTheOfficialSchema() throws {
        let table = try ResultsTable.read(officialResultsURL())
        XCTAssertEqual(table.patients.count, 32)
        XCTAssertEqual(table.patients.first, "s0029")
        XCTAssertEqual(table.patients.last, "s1420")
        XCTAssertEqual(table.columns.count, 646) // 647 with "patient"
        XCTAssertEqual(table.column("background_explanation_in_background_mass")?.first, 0.9002625)
        XCTAssertNotNil(table.column(ResultsColumns.dice("costal_cartilages")))
        XCTAssertEqual(ResultsColumns.parse("lung_lower_lobe_left_explanation_in_heart_mass")?.roi, "heart")
        XCTAssertNil(ResultsColumns.parse("heart_explanation_var"))
        // The column order is the official one for its 17 classes.
        let names = GlobalStatistics.targets(in: table)
        XCTAssertEqual(names.count, 17)
        XCTAssertEqual(table.columns, ResultsColumns.official(targets: names, rois: names, qualityClasses: names))
    }

    func testWriteReadRoundTripIsExact() throws {
        let table = try ResultsTable.read(officialResultsURL())
        let dir = URL(fileURLWithPath: try makeTemporaryDirectory(self))
        let url = dir.appendingPathComponent("copy.csv")
        try table.write(to: url)
        XCTAssertEqual(try ResultsTable.read(url), table)
        // Every value survives byte-for-byte as a number (shortest round-trip decimal).
        var custom = ResultsTable(columns: ["a_dice", "b"])
        try custom.append(patient: "x,\"1\"", values: ["a_dice": 0.1 + 0.2, "b": nil])
        try custom.append(patient: "y", values: ["a_dice": .nan, "b": -1e-300])
        let back = try ResultsTable.parse(custom.csvText(), source: "mem")
        XCTAssertEqual(back, custom)
        XCTAssertEqual(back.column("a_dice")!, [0.1 + 0.2, nil])
    }

    func testMalformedFilesGiveLocatedErrors() {
        func error(_ text: String) -> String {
            do {
                _ = try ResultsTable.parse(text, source: "r.csv")
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(error(""), "r.csv: empty file (expected a header row starting with \"patient\")")
        XCTAssertEqual(error("id,a\n"), "r.csv: the first column must be \"patient\", found \"id\"")
        XCTAssertEqual(error("patient,a\np,1\nq,1,2\n"), "r.csv:3: expected 2 fields, found 3")
        XCTAssertEqual(error("patient,a\np,abc\n"), "r.csv:2: column \"a\": \"abc\" is not a finite number")
        XCTAssertEqual(error("patient,a,a\n"), "r.csv: column \"a\" appears twice")
        XCTAssertEqual(error("patient,a\np,1\np,2\n"), "r.csv: patient \"p\" appears more than once")
    }

    func testMergeSortsRowsAndRejectsMismatchedColumns() throws {
        var a = ResultsTable(columns: ["x", "y"])
        try a.append(patient: "s2", values: ["x": 1, "y": 2])
        var b = ResultsTable(columns: ["x", "y"])
        try b.append(patient: "s1", values: ["x": 3])
        let merged = try ResultsTable.merge([a, b], sources: ["a.csv", "b.csv"])
        XCTAssertEqual(merged.patients, ["s1", "s2"])
        XCTAssertEqual(merged.rows, [[3, nil], [1, 2]])
        let c = ResultsTable(columns: ["x", "z", "w", "v", "u"])
        XCTAssertThrowsError(try ResultsTable.merge([a, c], sources: ["a.csv", "c.csv"])) {
            XCTAssertEqual("\($0)", "c.csv: columns differ from a.csv: missing \"y\"; extra \"z\", \"w\", \"v\" and 1 more")
        }
        XCTAssertThrowsError(try ResultsTable.merge([a, a], sources: ["a.csv", "a2.csv"])) {
            XCTAssertEqual("\($0)", "a2.csv: patient \"s2\" appears more than once")
        }
    }
}
