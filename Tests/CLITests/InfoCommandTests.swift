import Engine
import Foundation
import TestSupport
import XCTest

final class InfoCommandTests: XCTestCase {
    func testSampleScan() throws {
        let info = try NIfTIInfo.inspect(try XCTUnwrap(SampleData.scanPath))
        XCTAssertEqual(info.header.dims, [122, 101, 112])
        XCTAssertEqual(info.valueRange, -1207...3382)
        XCTAssertNil(info.labels, "2598 distinct HU values: not a label map")
        let text = info.render()
        for line in ["dims         122 × 101 × 112", "spacing      3 × 3 × 3 mm", "orientation  RAS",
                     "value range  -1207 … 3382", "sform_code   2 (aligned)", "qform_code   0 (unknown)",
                     "non-finite   0 NaN, 0 Inf", "datatype     INT32"] {
            XCTAssertTrue(text.contains(line), "missing \(line) in\n\(text)")
        }
    }

    func testSampleSegmentationListsNamedStructures() throws {
        let info = try NIfTIInfo.inspect(try XCTUnwrap(SampleData.labelsPath))
        let labels = try XCTUnwrap(info.labels)
        let structures = labels.filter { $0.label != 0 }
        XCTAssertEqual(structures.count, 61)
        XCTAssertFalse(structures.contains { $0.name.hasPrefix("label ") }, "every structure is named")
        XCTAssertEqual(labels.reduce(0) { $0 + $1.voxels }, 122 * 101 * 112)
        XCTAssertEqual(structures.first { $0.label == 5 }?.name, "liver")
        XCTAssertTrue(info.render().contains("label map    61 structures"))
    }

    func testLabelsOptionUsesGivenNamesAndFallsBack() throws {
        let dir = try makeTemporaryDirectory(self)
        let seg = makeLabelMap(dims: [3, 2, 1]) { i, j, _ in Int32(i + j) }
        try NIfTI.write(seg, to: dir + "/seg.nii.gz")
        try #"{"1": "liver"}"#.write(toFile: dir + "/names.json", atomically: true, encoding: .utf8)
        let info = try NIfTIInfo.inspect(dir + "/seg.nii.gz", labelNamesPath: dir + "/names.json")
        XCTAssertEqual(info.labels, [
            .init(label: 0, name: "background", voxels: 1), .init(label: 1, name: "liver", voxels: 2),
            .init(label: 2, name: "label 2", voxels: 2), .init(label: 3, name: "label 3", voxels: 1),
        ])
    }

    func testNonFiniteCountsAreReported() throws {
        let dir = try makeTemporaryDirectory(self)
        var raw = RawNIfTI()
        raw.setFloatData([1, .nan, -.infinity, 4, 5, 6, 7, .nan])
        try raw.write(to: dir + "/nan.nii")
        let text = try NIfTIInfo.inspect(dir + "/nan.nii").render()
        XCTAssertTrue(text.contains("non-finite   2 NaN, 1 Inf"), text)
        XCTAssertTrue(text.contains("value range  1 … 7"), text)
    }

    func testExecutableOnSample() throws {
        let result = try runAgg2Exp(["info", try XCTUnwrap(SampleData.scanPath)])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("dims         122 × 101 × 112"), result.stdout)
        XCTAssertTrue(result.stdout.contains("value range  -1207 … 3382"), result.stdout)
        let seg = try runAgg2Exp(["info", try XCTUnwrap(SampleData.labelsPath)])
        XCTAssertEqual(seg.status, 0, seg.stderr)
        XCTAssertTrue(seg.stdout.contains("label map    61 structures"), seg.stdout)
        XCTAssertTrue(seg.stdout.contains("inferior_vena_cava"), seg.stdout)
    }

    func testExecutableReportsBadFileWithoutCrashing() throws {
        let dir = try makeTemporaryDirectory(self)
        var raw = RawNIfTI()
        raw.setFloatData(Array(repeating: 0, count: 16))
        raw.dim = [4, 2, 2, 2, 2, 1, 1, 1]
        try raw.write(to: dir + "/4d.nii")
        let result = try runAgg2Exp(["info", dir + "/4d.nii"])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("\(dir)/4d.nii: not a 3-D volume: 4-D data with nt = 2"), result.stderr)
    }

    /// `--help` on a subcommand and the `help` subcommand print that command's help and exit 0.
    func testHelpPrintsTheSubcommandsHelp() throws {
        for arguments in [["explain", "--help"], ["help", "segment"], ["--help"]] {
            let result = try runAgg2Exp(arguments)
            XCTAssertEqual(result.status, 0, "\(arguments): \(result.stderr)")
            let text = result.stdout + result.stderr
            XCTAssertTrue(text.contains("OVERVIEW:"), "\(arguments): \(text)")
            XCTAssertFalse(text.contains("CommandError"), "\(arguments): \(text)")
        }
        XCTAssertTrue(try runAgg2Exp(["explain", "--help"]).stdout.contains("USAGE: agg2exp explain"))
        XCTAssertTrue(try runAgg2Exp(["help", "segment"]).stdout.contains("USAGE: agg2exp segment"))
    }
}
