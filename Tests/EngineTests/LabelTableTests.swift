import Engine
import Foundation
import TestSupport
import XCTest

final class LabelTableTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws { dir = try makeTemporaryDirectory(self) }

    private func write(_ name: String, _ text: String) throws -> String {
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testITKSNAPLabelDescription() throws {
        let path = try write("labels.txt", """
            ################################################
            # ITK-SnAP Label Description File
            #    IDX:   Zero-based index
            ################################################
                0     0    0    0        0  0  0    "Clear Label"
                1   255    0    0        1  1  1    "spleen"
               12    10  200   30        1  1  0    "inferior vena cava"
            """)
        let t = try LabelTable.load(path)
        XCTAssertEqual(t.names, [0: "Clear Label", 1: "spleen", 12: "inferior vena cava"])
        XCTAssertEqual(t.colors[12], RGB(10, 200, 30))
        XCTAssertEqual(t.name(for: 12), "inferior vena cava")
        XCTAssertEqual(t.name(for: 7), "label 7")
    }

    func testSlicerColorTable() throws {
        let path = try write("ct.ctbl", """
            # Color table file /tmp/x.ctbl
            # 3 values
            0 Background 0 0 0 0
            5 liver_left 221 130 101 255
            42 kidney_right 185 102 83 255
            """)
        let t = try LabelTable.load(path)
        XCTAssertEqual(t.names, [0: "Background", 5: "liver_left", 42: "kidney_right"])
        XCTAssertEqual(t.colors[5], RGB(221, 130, 101))
    }

    func testJSON() throws {
        let t = try LabelTable.load(try write("names.json", #"{"1": "liver", "2": "spleen", "117": "costal cartilages"}"#))
        XCTAssertEqual(t.names, [1: "liver", 2: "spleen", 117: "costal cartilages"])
        XCTAssertTrue(t.colors.isEmpty)
    }

    func testErrorsNameFileAndLine() throws {
        let bad = try write("bad.txt", "1 255 0 0 1 1 1 \"ok\"\nx 1 2 3 1 1 1 \"broken\"\n")
        XCTAssertThrowsError(try LabelTable.load(bad)) { e in
            XCTAssertEqual(String(describing: e), "\(bad):2: not a valid ITK-SNAP label line: x 1 2 3 1 1 1 \"broken\"")
        }
        let json = try write("bad.json", #"{"one": "liver"}"#)
        XCTAssertThrowsError(try LabelTable.load(json)) { e in
            XCTAssertEqual((e as? LabelTableError)?.kind, .badJSON("key \"one\" is not an integer label"))
        }
        let empty = try write("empty.txt", "# only a comment\n\n")
        XCTAssertThrowsError(try LabelTable.load(empty)) { e in XCTAssertEqual((e as? LabelTableError)?.kind, .empty) }
        XCTAssertThrowsError(try LabelTable.load(dir + "/missing.txt")) { e in
            XCTAssertEqual((e as? LabelTableError)?.kind, .notFound)
        }
    }

    /// The bundled names cover exactly the 61 structures in the sample segmentation.
    func testSampleLabelNamesCoverTheSampleSegmentation() throws {
        let table = try LabelTable.load(try XCTUnwrap(SampleData.labelNamesPath))
        let labels = try NIfTI.readLabelMap(try XCTUnwrap(SampleData.labelsPath))
        let present = Set(labels.labels).subtracting([0])
        XCTAssertEqual(present.count, 61)
        XCTAssertEqual(Set(table.names.keys).subtracting([0]), present)
        XCTAssertEqual(table.name(for: 5), "liver")
        XCTAssertEqual(table.name(for: 1), "spleen")
        XCTAssertEqual(Set(table.colors.values).count, table.colors.count, "distinct colours")
    }
}
