import XCTest
import Engine
import Explorer
import TestSupport

/// The explorer's nnU-Net provider on the two-part TotalSegmentator-style fixture
/// (EngineTests/Fixtures/nnunet/make_parts_fixtures.py) and a 1.5 mm LPS crop of a real CT that
/// TotalSegmentator's pre-step reorients and zooms (one tile per part): the prediction is the
/// merged nnU-Net label map, each target goes through the part that predicts it, and the cache
/// keys name the nnU-Net settings.
final class NNUNetAnalysisProviderTests: XCTestCase {
    private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("EngineTests/Fixtures/nnunet")
    private var scanPath: String { fixtures.appendingPathComponent("resample_ct.nii.gz").path }

    private func parts(count: Int = 2, tileStep: Double = 0.8, windowTarget: WindowTarget = .stitched) throws
        -> NNUNetParts {
        let names = ["Dataset291_TotalSegmentator_part1_fixture", "Dataset292_TotalSegmentator_part2_fixture"]
        return try NNUNetParts(parts: names.prefix(count).map { name in
            let path = fixtures.appendingPathComponent("parts/\(name)/nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres").path
            return NNUNetModel(pipeline: try NNUNetFolder(path: path).pipeline(folds: ["0"], tileStep: tileStep),
                               windowTarget: windowTarget)
        })
    }

    private func inputs(_ parts: NNUNetParts) throws -> [NNUNetInput] {
        let scan = try NIfTI.readVolume(scanPath)
        return try parts.parts.map { try $0.pipeline.prepareAsTotalSegmentator(scan, scanPath: scanPath) }
    }

    private func provider(_ parts: NNUNetParts, cache: AttributionCache? = nil) throws -> NNUNetAnalysisProvider {
        NNUNetAnalysisProvider(parts: parts, inputs: try inputs(parts), description: "parts", cache: cache,
                               scanDigest: { "scan" })
    }

    /// C order [I, J, K] → NIfTI order on `grid`.
    private func nifti(_ values: [Float], _ grid: Grid) -> [Float] {
        Tensor(shape: [1] + grid.dims, data: values).volume(channel: 0, grid: grid).voxels
    }

    func testPredictionIsTheMergedMapAndTargetsGoThroughTheirPart() throws {
        let parts = try parts()
        let inputs = try inputs(parts)
        let p = try provider(parts)
        XCTAssertEqual(p.classNames, ["background", "liver", "spleen", "kidney_left", "vertebrae_L1", "rib_left_1"])
        let merged = parts.merge(try zip(parts.parts, inputs).map { try $0.pipeline.networkLabels($1) })
        let prediction = try p.predict(progress: { _ in }, cancel: CancellationToken())
        XCTAssertEqual(prediction.grid, inputs[0].grid)
        XCTAssertEqual(prediction.labels, nifti(merged.map(Float.init), p.grid).map { Int32($0) })
        XCTAssertTrue(Set(merged).isSuperset(of: [1, 4]), "both parts predict something")

        // vertebrae_L1 (merged 4) is part 2's label 1; liver (1) part 1's label 1.
        for (target, part, label) in [(4, 1, 1), (1, 0, 1)] {
            let want = try parts.parts[part].targetGradient(
                inputs[part].tensor, target: SegmentTarget(classIndex: label, mask: parts.labels(merged, inPart: part)),
                progress: nil, cancel: nil)
            let got = try p.attribute(method: "gradient", target: target, progress: { _ in }, cancel: CancellationToken())
            XCTAssertEqual(got.map.grid, p.grid)
            XCTAssertEqual(got.map.voxels, nifti(want.data, p.grid), "target \(target) through part \(part + 1)")
            XCTAssertTrue(want.data.contains { $0 != 0 })
        }
    }

    func testCacheKeysNameTheNNUNetSettings() throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = AttributionCache(directory: URL(fileURLWithPath: dir), capacityBytes: 1 << 30)
        let settings = MethodSettings()
        let first = try provider(try parts(), cache: cache)
        let map = try first.attribute(method: "gradient", target: 4, progress: { _ in }, cancel: CancellationToken())
        let again = try provider(try parts(), cache: cache)
        XCTAssertEqual(try XCTUnwrap(again.storedAttribution(method: "gradient", target: 4, settings: settings)).map.voxels,
                       map.map.voxels, "the same model and scan find the stored map")
        let prediction = try again.predict(progress: { _ in }, cancel: CancellationToken())
        XCTAssertEqual(prediction.labels, try first.predict(progress: { _ in }, cancel: CancellationToken()).labels)

        XCTAssertNil(try provider(try parts(tileStep: 0.5), cache: cache)
            .storedAttribution(method: "gradient", target: 4, settings: settings), "tile step")
        XCTAssertNil(try provider(try parts(windowTarget: .perWindow), cache: cache)
            .storedAttribution(method: "gradient", target: 4, settings: settings), "window target")
        _ = try first.attribute(method: "gradient", target: 1, progress: { _ in }, cancel: CancellationToken())
        XCTAssertNotNil(again.storedAttribution(method: "gradient", target: 1, settings: settings))
        XCTAssertNil(try provider(try parts(count: 1), cache: cache)
            .storedAttribution(method: "gradient", target: 1, settings: settings), "the list of parts")
        let other = NNUNetAnalysisProvider(parts: try parts(), inputs: try inputs(try parts()), description: "parts",
                                           cache: cache, scanDigest: { "another scan" })
        XCTAssertNil(other.storedAttribution(method: "gradient", target: 4, settings: settings), "the scan")
    }

    /// Folds, the checkpoint (final or best) and mirroring change an nnU-Net model's digest.
    func testContentDigestNamesFoldsCheckpointAndMirroring() throws {
        let folder = try NNUNetFolder(path: fixtures.appendingPathComponent("plain/nnUNetTrainer__nnUNetPlans__3d_fullres").path)
        let both = try NNUNetModel(pipeline: folder.pipeline()).contentDigest()
        XCTAssertEqual(both, try NNUNetModel(pipeline: folder.pipeline(folds: ["0", "1"])).contentDigest())
        XCTAssertNotEqual(both, try NNUNetModel(pipeline: folder.pipeline(folds: ["0"])).contentDigest())
        XCTAssertNotEqual(try NNUNetModel(pipeline: folder.pipeline(folds: ["1"])).contentDigest(),
                          try NNUNetModel(pipeline: folder.pipeline(folds: ["0"])).contentDigest())
        // The same weights saved as checkpoint_best.pth: the file's name alone tells them apart.
        let copy = try makeTemporaryDirectory(self) + "/nnUNetTrainer__nnUNetPlans__3d_fullres"
        try FileManager.default.createDirectory(atPath: copy + "/fold_0", withIntermediateDirectories: true)
        for file in ["plans.json", "dataset.json", "fold_0/checkpoint_final.pth"] {
            try FileManager.default.copyItem(atPath: folder.path + "/" + file, toPath: copy + "/" + file)
        }
        try FileManager.default.copyItem(atPath: copy + "/fold_0/checkpoint_final.pth",
                                         toPath: copy + "/fold_0/checkpoint_best.pth")
        let copied = try NNUNetFolder(path: copy)
        XCTAssertNotEqual(try NNUNetModel(pipeline: copied.pipeline(checkpoint: .best)).contentDigest(),
                          try NNUNetModel(pipeline: copied.pipeline(checkpoint: .final)).contentDigest())
        XCTAssertEqual(try NNUNetModel(pipeline: copied.pipeline(folds: ["0"])).contentDigest(),
                       try NNUNetModel(pipeline: folder.pipeline(folds: ["0"])).contentDigest(),
                       "the same files under another directory")
        let mirror = try NNUNetFolder(path: fixtures.appendingPathComponent("mirror/nnUNetTrainer__nnUNetPlans__3d_fullres").path)
        XCTAssertNotEqual(try NNUNetModel(pipeline: mirror.pipeline(mirror: true)).contentDigest(),
                          try NNUNetModel(pipeline: mirror.pipeline()).contentDigest())
    }
}
