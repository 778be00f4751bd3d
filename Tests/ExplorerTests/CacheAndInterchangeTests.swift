import Engine
import Explorer
import Foundation
import TestSupport
import XCTest

/// `view --attributions`: maps named by file-name convention or a JSON index, on the model's or
/// the scan's grid; and `S`, which saves the current map so it can be opened again.
final class AttributionImportTests: XCTestCase {
    private let classes = ["background", "liver", "spleen"]
    /// Model grid: RAS, 2 mm. The scan grid: the same voxels stored LPS (i and j reversed).
    private let model = Grid(dims: [4, 3, 2], affine: .scaling([2, 2, 2], origin: [-3, -2, 0]))
    private var scan: Grid {
        Grid(dims: [4, 3, 2], affine: Affine(rowMajor: [-2, 0, 0, 3, 0, -2, 0, 2, 0, 0, 2, 0, 0, 0, 0, 1]))
    }
    private var grids: AttributionImport.Grids {
        AttributionImport.Grids(model: model, scan: scan, orientation: "RAS", spacing: [2, 2, 2])
    }

    private func write(_ dir: String, _ name: String, grid: Grid, _ f: (Int, Int, Int) -> Float) throws -> String {
        let path = (dir as NSString).appendingPathComponent(name)
        try NIfTI.write(makeVolume(dims: grid.dims, affine: grid.affine, f), to: path)
        return path
    }

    /// f(i, j, k) over the 4 × 3 × 2 grids, i fastest.
    private func niftiOrder(_ f: (Int, Int, Int) -> Float) -> [Float] {
        var out: [Float] = []
        for k in 0..<2 { for j in 0..<3 { for i in 0..<4 { out.append(f(i, j, k)) } } }
        return out
    }

    private func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch {
            return (error as? AttributionImportError)?.message ?? "\(error)"
        }
    }

    func testFileNameConventionOnTheModelGrid() throws {
        let dir = try makeTemporaryDirectory(self)
        let a = try write(dir, "gradient__liver.nii.gz", grid: model) { i, j, k in Float(i + 10 * j + 100 * k) }
        _ = try write(dir, "captum-ig__2__case07.nii", grid: model) { i, _, _ in -Float(i) }
        let maps = try AttributionImport.load([dir], classNames: classes, grids: grids)
        XCTAssertEqual(maps.map(\.method), ["captum-ig", "gradient"], "directory entries in name order")
        XCTAssertEqual(maps.map(\.target), [2, 1])
        XCTAssertEqual(maps[1].path, a)
        XCTAssertFalse(maps[1].resampled)
        XCTAssertEqual(maps[1].map.grid, model)
        // Voxel (i, j, k) holds i + 10 j + 100 k, in NIfTI order (i fastest).
        XCTAssertEqual(maps[1].map.voxels, niftiOrder { i, j, k in Float(i + 10 * j + 100 * k) })
        XCTAssertEqual(maps[1].display.notice, "Opened gradient → liver from \(a)")
    }

    /// A map on the scan's LPS grid is reoriented onto the RAS model grid: model voxel (i, j, k)
    /// is scan voxel (3 − i, 2 − j, k), worked out from the two affines by hand.
    func testJSONIndexAndAScanGridMap() throws {
        let dir = try makeTemporaryDirectory(self)
        _ = try write(dir, "ig.nii.gz", grid: scan) { i, j, k in Float(i + 10 * j + 100 * k) }
        let index = """
            {"maps": [{"file": "ig.nii.gz", "method": "integrated-gradients", "target": 1}]}
            """
        try index.write(toFile: "\(dir)/attributions.json", atomically: true, encoding: .utf8)
        let maps = try AttributionImport.load([dir], classNames: classes, grids: grids)
        XCTAssertEqual(maps.count, 1)
        XCTAssertEqual(maps[0].method, "integrated-gradients")
        XCTAssertEqual(maps[0].target, 1)
        XCTAssertTrue(maps[0].resampled)
        XCTAssertEqual(maps[0].map.voxels, niftiOrder { i, j, k in Float((3 - i) + 10 * (2 - j) + 100 * k) })
        // The index can also be named directly.
        XCTAssertEqual(try AttributionImport.load(["\(dir)/attributions.json"], classNames: classes, grids: grids).count, 1)
    }

    func testBadInputGetsOneLineNamingTheFile() throws {
        let dir = try makeTemporaryDirectory(self)
        let odd = try write(dir, "saliency.nii.gz", grid: model) { _, _, _ in 0 }
        XCTAssertEqual(message { _ = try AttributionImport.load([odd], classNames: classes, grids: grids) },
                       "\(odd): the name is not METHOD__TARGET.nii[.gz] (e.g. gradient__liver.nii.gz) and no "
                       + "attributions.json names it")
        let kidney = try write(dir, "gradient__kidney.nii.gz", grid: model) { _, _, _ in 0 }
        XCTAssertEqual(message { _ = try AttributionImport.load([kidney], classNames: classes, grids: grids) },
                       "\(kidney): target 'kidney' is not a model class (classes: background, liver, spleen)")
        let other = Grid(dims: [5, 3, 2], affine: model.affine)
        let wrong = try write(dir, "gradient__liver.nii.gz", grid: other) { _, _, _ in 0 }
        XCTAssertEqual(message { _ = try AttributionImport.load([wrong], classNames: classes, grids: grids) },
                       "\(wrong): grid \(other.summary) is neither the scan's grid (\(scan.summary)) nor the "
                       + "model's (\(model.summary))")
        let twice = try write(dir, "gradient__1__again.nii.gz", grid: model) { _, _, _ in 0 }
        let first = try write(dir, "gradient__1.nii.gz", grid: model) { _, _, _ in 0 }
        XCTAssertEqual(message { _ = try AttributionImport.load([first, twice], classNames: classes, grids: grids) },
                       "\(twice): gradient for liver is also given by \(first)")
        XCTAssertEqual(message { _ = try AttributionImport.load(["\(dir)/none"], classNames: classes, grids: grids) },
                       "\(dir)/none: no such file or directory")
        let empty = try makeTemporaryDirectory(self)
        XCTAssertEqual(message { _ = try AttributionImport.load([empty], classNames: classes, grids: grids) },
                       "\(empty): no attributions.json and no .nii/.nii.gz attribution maps")
        try "{\"maps\": 3}".write(toFile: "\(empty)/attributions.json", atomically: true, encoding: .utf8)
        XCTAssertEqual(message { _ = try AttributionImport.load([empty], classNames: classes, grids: grids) },
                       "\(empty)/attributions.json: expected {\"maps\": [{\"file\": …, \"method\": …, \"target\": …}]}")
    }
}

final class SaveMapTests: XCTestCase {
    private let date = Date(timeIntervalSince1970: 1_790_000_000)   // 2026-09-21T14:13:20Z

    /// S → saveMap; the session writes the map as NIfTI that reads back voxel for voxel on the
    /// scene's grid, under a name `--attributions` opens as the same method and target.
    func testSaveKeyWritesAMapThatOpensAgain() throws {
        let dir = try makeTemporaryDirectory(self)
        var ex = Fixtures.explorer()
        XCTAssertEqual(KeyTable.action(for: .char("S")), .saveMap)
        XCTAssertEqual(ex.handle(.key(.char("S"))), .saveMap)
        let session = ExplorerSession(explorer: ex,
                                      controller: AnalysisController(provider: FakeProvider(scene: Fixtures.scene())),
                                      exportDirectory: URL(fileURLWithPath: dir))
        session.saveMap(date: date)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertEqual(names.count, 1, "one file, no temporary left")
        let name = try XCTUnwrap(names.first)
        XCTAssertTrue(name.hasPrefix("gradient__liver__2026092") && name.hasSuffix(".nii.gz"), name)
        XCTAssertEqual(session.explorer.state.message, StatusMessage("Map saved to \(dir)/\(name)"))
        let back = try NIfTI.readVolume("\(dir)/\(name)")
        let scene = Fixtures.scene()
        XCTAssertEqual(back.voxels, Fixtures.attribution(for: scene, target: 1).voxels)
        assertAffineClose(back.grid.affine, scene.ct.grid.affine, tol: 1e-5)
        let grids = AttributionImport.Grids(model: scene.ct.grid, scan: scene.ct.grid, orientation: "RAS",
                                            spacing: [2, 2, 3])
        let opened = try AttributionImport.load([dir], classNames: ["background", "liver", "spleen"], grids: grids)
        XCTAssertEqual(opened.map(\.method), ["gradient"])
        XCTAssertEqual(opened.map(\.target), [1])
        ex.attribution = nil
        XCTAssertEqual(ex.handle(.key(.char("S"))), .redraw)
        XCTAssertEqual(ex.state.message, StatusMessage("No attribution map to save yet", isError: true))
    }

    /// An imported method has nothing to compute: a target without a map says which targets it has.
    func testImportedMethodWithoutAMapForTheTargetSaysSo() throws {
        let scene = Fixtures.scene()
        var ex = Fixtures.explorer(withAttribution: false)
        ex.methods.append("captum-ig")
        let provider = FakeProvider(scene: scene)
        let controller = AnalysisController(provider: provider)
        controller.preload(AnalysisKey(method: "captum-ig", target: 2),
                           AttributionDisplay(map: Fixtures.attribution(for: scene, target: 2)))
        let session = ExplorerSession(explorer: ex, controller: controller)
        session.handle(.key(.char("M")))   // previous method: captum-ig, target liver
        XCTAssertEqual(session.explorer.method, "captum-ig")
        XCTAssertNil(session.explorer.attribution)
        XCTAssertEqual(session.explorer.state.message,
                       StatusMessage("captum-ig has no map for liver (imported: spleen)", isError: true))
        session.handle(.key(.char("n")))
        XCTAssertEqual(session.explorer.attribution?.map.voxels, Fixtures.attribution(for: scene, target: 2).voxels)
        XCTAssertEqual(session.explorer.rankedRows.first?.name, "spleen")
        XCTAssertTrue(provider.attributeCalls.isEmpty, "nothing was computed")
    }
}

final class AttributionDisplayTests: XCTestCase {
    /// The radix sort of |a| agrees with the standard library's comparison sort, including signed
    /// zeros, infinities, NaN (both shown as 0), subnormals and values across every exponent.
    func testMagnitudesAreSortedLikeTheStandardSort() {
        var rng = SeededGenerator(seed: 7)
        var values: [Float] = [0, -0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, -.greatestFiniteMagnitude, 1, -1]
        for _ in 0..<20_000 {
            values.append(Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)))
            values.append(Float.random(in: -1...1, using: &rng))
        }
        let display = AttributionDisplay(map: Volume(grid: Grid(dims: [values.count, 1, 1], affine: .identity), voxels: values))
        let expected = values.map { Swift.abs($0.isFinite ? $0 : 0) }.sorted()
        XCTAssertEqual(display.sortedAbs.map(\.bitPattern), expected.map(\.bitPattern))
        XCTAssertEqual(display.maxAbs, .greatestFiniteMagnitude)
    }
}
