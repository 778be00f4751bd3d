import Engine
import Explorer
import Foundation
import XCTest

/// The global-mode analysis pages on the official results CSV, with scan s0802 as the current scan.
final class GlobalAnalysisPagesTests: XCTestCase {
    static let officialCSV = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EngineTests/Fixtures/official/tsv2_test_aggregated_sg_explanations_with_dice.csv").path

    private func explorer(scan: String = "/data/s0802_ct.nii.gz") throws -> Explorer {
        var ex = Fixtures.explorer(width: 150, height: 52)
        ex.scene.scanPath = scan
        ex.classNames = []  // targets come from the results file
        ex.global = try GlobalResults.load(path: Self.officialCSV)
        ex.state.target = try XCTUnwrap(ex.targetNames.firstIndex(of: "heart"))
        return ex
    }

    func testGCyclesThroughThePagesAndEscapeCloses() throws {
        var ex = try explorer()
        var seen: [GlobalPage?] = []
        for _ in 0...GlobalPage.allCases.count {
            XCTAssertEqual(ex.handle(.key(.char("G"))), .redraw)
            seen.append(ex.state.globalPage)
        }
        XCTAssertEqual(seen, GlobalPage.allCases.map { $0 } + [nil])
        _ = ex.handle(.key(.char("G")))
        XCTAssertEqual(ex.handle(.key(.escape)), .redraw)
        XCTAssertNil(ex.state.globalPage)
        var plain = Fixtures.explorer()
        _ = plain.handle(.key(.char("G")))
        XCTAssertNil(plain.state.globalPage)
        XCTAssertEqual(plain.state.message?.isError, true)
    }

    func testPagesMarkTheCurrentScanAndShowItsOutlierScore() throws {
        let ex = try explorer()
        let table = try ResultsTable.read(URL(fileURLWithPath: Self.officialCSV))
        let row = try XCTUnwrap(table.patients.firstIndex(of: "s0802"))
        let selfMass = try XCTUnwrap(table.column(ResultsColumns.mass(target: "heart", roi: "heart"))?[row] ?? nil)

        let matrix = ex.globalPageLines(.matrix)
        XCTAssertTrue(matrix.contains { $0.hasPrefix("▶ heart ") }, matrix.joined(separator: "\n"))
        let scanRow = try XCTUnwrap(matrix.first { $0.hasPrefix("  s0802 heart") })
        XCTAssertTrue(scanRow.contains(TextPlot.decimal3(selfMass)), scanRow)

        XCTAssertTrue(ex.globalPageLines(.graph).contains { $0.contains("← heart") && $0.contains(String(format: "scan %.3f", selfMass)) })
        XCTAssertTrue(ex.globalPageLines(.context).contains { $0.contains("(○ = s0802)") })
        XCTAssertTrue(ex.globalPageLines(.dendrogram).contains { $0.hasPrefix("○ heart") })

        let cube = try MassCube(table: table, source: Self.officialCSV)
        let heart = try XCTUnwrap(try OutlierAnalysis(reference: cube, scoredTable: table, targets: ["heart"]).classes.first)
        let score = try XCTUnwrap(heart.scores[row])
        let outliers = ex.globalPageLines(.outliers)
        XCTAssertEqual(outliers[1], "outlier score of this scan for heart: " + String(format: "%+.3f", score)
                       + (score < 0 ? " (predicted outlier)" : " (inlier)"))
        XCTAssertTrue(outliers.contains { $0.hasPrefix(String(format: "%+7.3f", score)) && $0.contains("heart") },
                      outliers.joined(separator: "\n"))
    }

    func testAScanNotInTheFileIsSaidSoAndThePageIsDrawnAboveTheStatusLine() throws {
        var ex = try explorer(scan: "/data/other.nii.gz")
        XCTAssertEqual(ex.globalPageLines(.context).first, "this scan is not in the results file")
        _ = ex.apply(.cycleGlobalPage)
        let lines = ex.render().textLines
        XCTAssertTrue(lines[0].contains("Global 1/5: class × RoI mean mass (G: next page, Esc: close)"), lines[0])
        XCTAssertTrue(lines[2].contains("Global mean mass over 32 scans"), lines[2])
        XCTAssertEqual(lines.count, 52)
    }
}
