import Engine
import Foundation
import XCTest

final class GlobalStatisticsTests: XCTestCase {
    func testType7QuantilesMatchR() {
        // R: quantile(c(1, 2, 4, 8, 16)) → 1, 2, 4, 8, 16; quantile(1:4, .25) = 1.75.
        let s = DistributionSummary([16, 1, nil, 4, 2, 8])!
        XCTAssertEqual([s.min, s.q1, s.median, s.q3, s.max], [1, 2, 4, 8, 16])
        XCTAssertEqual(s.n, 5)
        XCTAssertEqual(s.mean, 6.2, accuracy: 1e-12)
        XCTAssertEqual(DistributionSummary.quantile(sorted: [1, 2, 3, 4], 0.25), 1.75)
        XCTAssertEqual(DistributionSummary.quantile(sorted: [1, 2, 3, 4], 0.5), 2.5)
        XCTAssertNil(DistributionSummary([nil, .nan]))
    }

    func testOfficialCSVReproducesThePublishedMediansForLowerLeftLobe() throws {
        let table = try ResultsTable.read(officialResultsURL())
        let ranking = try GlobalStatistics.ranking(target: "lung_lower_lobe_left", in: table)
        // Medians and order of the published boxplot (shared/reference/README.md), 4 decimals.
        XCTAssertEqual(ranking.prefix(4).map(\.roi),
                       ["lung_lower_lobe_left", "lung_upper_lobe_left", "heart", "lung_lower_lobe_right"])
        for (r, median) in zip(ranking, [0.0969, 0.0738, 0.0283, 0.0195]) {
            XCTAssertEqual(r.summary.median, median, accuracy: 5e-5, r.roi)
        }
        // Quartiles cross-checked with numpy.quantile (linear = R type 7).
        let top = ranking[0].summary
        XCTAssertEqual(top.q1, 0.07964606, accuracy: 1e-12)
        XCTAssertEqual(top.q3, 0.13139813, accuracy: 1e-12)
        XCTAssertEqual(top.min, 0.04214348)
        XCTAssertEqual(top.max, 0.19736007)
        XCTAssertEqual(top.n, 32)
        XCTAssertFalse(ranking.contains { $0.roi == "background" })
        let withBackground = try GlobalStatistics.ranking(target: "lung_lower_lobe_left", in: table, includeBackground: true)
        XCTAssertEqual(withBackground.first?.roi, "background")
        XCTAssertEqual(withBackground.first!.summary.median, 0.68876415, accuracy: 1e-12)
        XCTAssertEqual(withBackground.count, 17)
    }

    func testPulmonaryVeinOrderMatchesTheSecondPublishedFigure() throws {
        let table = try ResultsTable.read(officialResultsURL())
        let ranking = try GlobalStatistics.ranking(target: "pulmonary_vein", in: table)
        XCTAssertEqual(ranking.prefix(6).map(\.roi), ["lung_lower_lobe_right", "lung_upper_lobe_right",
                                                      "lung_middle_lobe_right", "lung_upper_lobe_left",
                                                      "heart", "lung_lower_lobe_left"])
        for (r, median) in zip(ranking, [0.0659, 0.0551, 0.0432, 0.0389, 0.0338, 0.0313]) {
            XCTAssertEqual(r.summary.median, median, accuracy: 5e-5, r.roi)
        }
    }

    func testUnknownTargetListsValidNamesAndJSONKeepsRankingOrder() throws {
        let table = try ResultsTable.read(officialResultsURL())
        XCTAssertThrowsError(try GlobalStatistics.ranking(target: "liver", in: table)) {
            let text = "\($0)"
            XCTAssertTrue(text.hasPrefix("unknown target \"liver\"; valid targets: background, aorta,"), text)
        }
        let all = try GlobalStatistics.rankings(target: nil, in: table, includeBackground: false, source: "r.csv")
        XCTAssertEqual(all.count, 16)
        let json = GlobalStatistics.json(Array(all.prefix(1)))
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let segments = ((object?["targets"] as? [String: Any])?["aorta"] as? [String: Any])?["segments"] as? [String: Any]
        XCTAssertEqual(segments?.count, 16)
        let first = try XCTUnwrap(all[0].rois.first)
        XCTAssertTrue(json.contains("\"\(first.roi)\": {\"mean\": \(first.summary.mean)"))
        XCTAssertEqual((segments?[first.roi] as? [String: Any])?["n"] as? Int, 32)
    }
}
