import Engine
import Foundation
import TestSupport
import XCTest

final class VolumeTests: XCTestCase {
    func testSampleDataLocatorHonoursEnvironment() throws {
        let real = try XCTUnwrap(SampleData.directory)
        XCTAssertTrue(FileManager.default.fileExists(atPath: real + "/" + SampleData.scanFile))
        XCTAssertEqual(SampleData.modelDirectory, real + "/model")

        let dir = try makeTemporaryDirectory(self)
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/" + SampleData.scanFile, contents: Data()))
        setenv("AGG2EXP_SAMPLE_DATA", dir, 1)
        defer { unsetenv("AGG2EXP_SAMPLE_DATA") }
        XCTAssertEqual(SampleData.directory, dir)
        XCTAssertEqual(SampleData.labelsPath, dir + "/" + SampleData.labelsFile)
        // A folder without the scan is skipped.
        setenv("AGG2EXP_SAMPLE_DATA", dir + "/missing", 1)
        XCTAssertEqual(SampleData.directory, real)
    }

    func testWindowClipsToOutputRange() {
        let v = makeVolume(dims: [5, 1, 1]) { i, _, _ in [-2000, -160, 40, 240, 5000][i] }
        // Soft-tissue window W400/L40 → [0, 1].
        XCTAssertEqual(v.windowed(aMin: -160, aMax: 240, bMin: 0, bMax: 1, clip: true).voxels, [0, 0, 0.5, 1, 1])
        let unclipped = v.windowed(aMin: -160, aMax: 240, bMin: 0, bMax: 1, clip: false).voxels
        assertAllClose(unclipped, [-4.6, 0, 0.5, 1, 12.9], absTol: 1e-6)
    }

    func testLabelResamplingOnlyProducesExistingLabels() {
        let labels = makeLabelMap(dims: [6, 5, 4], affine: .scaling([2, 2, 3])) { i, j, k in Int32((i * 7 + j * 3 + k) % 4) * 10 }
        let out = labels.resampled(toSpacing: [0.9, 1.1, 1.3])
        XCTAssertEqual(out.grid.dims, [12, 8, 8])  // round(10/0.9+1), round(8/1.1+1), round(9/1.3+1)
        XCTAssertTrue(Set(out.labels).isSubset(of: Set(labels.labels)))
        // Output voxel 0 sits on input voxel 0's centre.
        XCTAssertEqual(out[0, 0, 0], labels[0, 0, 0])
    }

    func testResampledVolumeKeepsWorldOrigin() {
        let v = makeVolume(dims: [4, 4, 4], affine: .scaling([-2, 2, 2], origin: [10, 20, 30])) { i, j, k in Float(i + j + k) }
        let out = v.resampled(toSpacing: [1, 1, 1])
        XCTAssertEqual(Orientation.code(for: out.grid.affine), "LAS", "axis directions are kept")
        let o = out.grid.world(0, 0, 0)
        XCTAssertEqual([o.x, o.y, o.z], [10, 20, 30])
        XCTAssertEqual(out.grid.dims, [7, 7, 7])
        XCTAssertEqual(out[6, 6, 6], v[3, 3, 3])
    }
}
