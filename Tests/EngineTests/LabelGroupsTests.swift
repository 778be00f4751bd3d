import Engine
import Foundation
import XCTest

final class LabelGroupsTests: XCTestCase {
    func testGroupsLabelsAndSendsUnlistedToBackground() throws {
        let json = #"{"classes": ["background", "liver", "kidneys"], "label_to_class": {"5": 1, "2": 2, "3": 2, "4": 0},"#
            + #" "label_names": {"5": "liver"}}"#
        let groups = try LabelGroups.parse(Data(json.utf8), path: "g.json")
        XCTAssertEqual(groups.classes, ["background", "liver", "kidneys"])
        XCTAssertEqual(groups.labelNames, [5: "liver"])
        let grid = Grid(dims: [6, 1, 1], affine: .identity)
        let grouped = groups.grouped(LabelMap(grid: grid, labels: [0, 5, 2, 3, 4, 99]))
        XCTAssertEqual(grouped.labels, [0, 1, 2, 2, 0, 0])
    }

    func testRejectsBadFilesNamingThem() {
        let cases = [
            "[1, 2]",
            #"{"label_to_class": {}}"#,
            #"{"classes": ["a", "b"], "label_to_class": {"x": 1}}"#,
            #"{"classes": ["a", "b"], "label_to_class": {"1": 2}}"#,
            #"{"classes": ["a", "b"], "label_to_class": {"1": 0.5}}"#,
        ]
        for text in cases {
            XCTAssertThrowsError(try LabelGroups.parse(Data(text.utf8), path: "bad.json"), text) { error in
                XCTAssertTrue("\(error)".hasPrefix("bad.json: "), "\(error)")
            }
        }
        XCTAssertThrowsError(try LabelGroups.load("/nonexistent/groups.json")) { error in
            XCTAssertEqual("\(error)", "/nonexistent/groups.json: no such file")
        }
    }
}
