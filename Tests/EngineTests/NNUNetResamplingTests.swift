import Engine
import Foundation
import TestSupport
import XCTest

/// nnU-Net's resampling against nnunetv2 2.8.1's `resample_data_or_seg` (skimage / scipy), and
/// `segment` against nnUNetPredictor on a real CT that nnU-Net resamples
/// (Fixtures/nnunet/make_resampling_fixtures.py).
final class NNUNetResamplingTests: XCTestCase {
    private func fixture(_ name: String) throws -> String {
        try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/nnunet/\(name)").path
    }

    private func reference() throws -> SafetensorsFile {
        try SafetensorsFile(path: try fixture("resampling.safetensors"))
    }

    /// max |a − b| / max |b|.
    private func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        let scale = b.map { abs(Double($0)) }.max() ?? 1
        return zip(a, b).map { abs(Double($0) - Double($1)) }.max()! / scale
    }

    func testSeparateZDecisionAndShapesMatchNNUNet() throws {
        let json = try XCTUnwrap(JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: try fixture("separate_z.json")))).object)
        for c in try XCTUnwrap(json["cases"]?.array) {
            let o = try XCTUnwrap(c.object)
            let force = o["force"]!.bool
            let current = o["current"]!.array!.map { $0.number! }, new = o["new"]!.array!.map { $0.number! }
            let resampling = NNUNetResampling(order: 3, orderZ: 0, forceSeparateZ: force)
            XCTAssertEqual(resampling.separateAxis(current: current, new: new), o["axis"]!.int,
                           "force \(String(describing: force)) \(current) → \(new)")
        }
        for c in try XCTUnwrap(json["shapes"]?.array) {
            let o = try XCTUnwrap(c.object)
            XCTAssertEqual(NNUNetResampling.newShape(o["shape"]!.array!.map { $0.int! }, from: o["old"]!.array!.map { $0.number! },
                                                     to: o["new"]!.array!.map { $0.number! }),
                           o["result"]!.array!.map { $0.int! })
        }
    }

    /// Order 3 (skimage resize → scipy zoom with the B-spline prefilter), with and without
    /// separate z, on a real CT block; float32 output against the float64 reference.
    func testDataResamplingMatchesSkimage() throws {
        let r = try reference()
        let ct = try r.floats("ct")
        let shape = [16, 20, 24], iso = [1.5, 1.5, 1.5]
        let data = NNUNetResampling(order: 3, orderZ: 0, forceSeparateZ: nil)
        for (name, spacing, axis) in [("iso3", [1.2, 2.0, 1.7], nil), ("sepz3", [5.0, 1.2, 1.7], 0 as Int?)] {
            XCTAssertEqual(data.separateAxis(current: iso, new: spacing), axis, name)
            let target = NNUNetResampling.newShape(shape, from: iso, to: spacing)
            let got = data.resample(ct, channels: 1, shape: shape, to: target, current: iso, new: spacing)
            let want = try r.floats(name)
            XCTAssertEqual(got.count, want.count, name)
            let error = relativeError(got, want)
            print("nnU-Net resampling \(name) \(shape) → \(target): max relative error \(error)")
            XCTAssertLessThanOrEqual(error, 1e-5, name)
        }
    }

    /// Order 1 back to the scan (separate z from the current spacing, and isotropic), on
    /// three-channel float16 logits: in float32 against the float64 reference, and in float16
    /// against the float16 array nnU-Net returns.
    func testLogitResamplingMatchesNNUNet() throws {
        let r = try reference()
        let iso = [1.5, 1.5, 1.5]
        let probabilities = NNUNetResampling(order: 1, orderZ: 0, forceSeparateZ: nil)
        for (name, shape, spacing) in [("logits", [5, 25, 21], [5.0, 1.2, 1.7]), ("logits_iso", [20, 15, 21], [1.2, 2.0, 1.7])] {
            let logits = try r.floats(name)
            let got = probabilities.resample(logits, channels: 3, shape: shape, to: [16, 20, 24], current: spacing, new: iso)
            let error = relativeError(got, try r.floats(name + "_back"))
            print("nnU-Net logit resampling \(name): max relative error \(error)")
            XCTAssertLessThanOrEqual(error, 1e-5, name)

            let half = probabilities.resample(logits.map { Float16($0) }, channels: 3, shape: shape, to: [16, 20, 24],
                                              current: spacing, new: iso).map(Float.init)
            let nnunet = try r.floats(name + "_back_f16")
            let equal = zip(half, nnunet).filter { $0 == $1 }.count
            print("nnU-Net logit resampling \(name), float16: \(equal) of \(half.count) equal")
            XCTAssertGreaterThanOrEqual(Double(equal) / Double(half.count), 0.999, name)
            for (a, b) in zip(half, nnunet) where a != b {
                XCTAssertLessThanOrEqual(abs(a - b), Float(Float16(b).ulp), "\(name): \(a) vs \(b)")
            }
        }
    }

    private func agreement(_ a: LabelMap, _ b: LabelMap) -> Double {
        Double(zip(a.labels, b.labels).filter { $0 == $1 }.count) / Double(a.labels.count)
    }

    /// `segment` on a 1.5 mm CT crop with plans spacing 2.0 mm (isotropic, transpose_forward
    /// [0, 2, 1]) and (7.0, 2.0, 2.0) mm (separate z into the network and back): label agreement
    /// ≥ 99.5 % with nnUNetPredictor's output file.
    func testSegmentResamplesAsNNUNetPredictor() throws {
        let scanPath = try fixture("resample_ct.nii.gz")
        let scan = try NIfTI.readVolume(scanPath)
        for (name, networkShape) in [("resample_iso", [36, 48, 42]), ("resample_aniso", [10, 42, 48])] {
            let pipeline = try NNUNetFolder(path: try fixture("\(name)/nnUNetTrainer__nnUNetPlans__3d_fullres")).pipeline()
            let input = try pipeline.prepare(scan, scanPath: scanPath)
            XCTAssertEqual(input.shape, networkShape, name)
            let labels = try pipeline.segment(scan, scanPath: scanPath)
            let reference = try NIfTI.readLabelMap(try fixture("\(name)_predicted.nii.gz"))
            XCTAssertEqual(labels.grid.dims, reference.grid.dims)
            let agree = agreement(labels, reference)
            print("nnU-Net \(name) label agreement with nnUNetPredictor: \(agree)")
            XCTAssertGreaterThanOrEqual(agree, 0.995, name)
        }
    }

    /// The network grid of a resampled input puts voxel o at cropped index (o + ½)·s − ½.
    func testResampledNetworkGridGeometry() throws {
        let scanPath = try fixture("resample_ct.nii.gz")
        let scan = try NIfTI.readVolume(scanPath)
        let pipeline = try NNUNetFolder(path: try fixture("resample_iso/nnUNetTrainer__nnUNetPlans__3d_fullres")).pipeline()
        let grid = try pipeline.prepare(scan, scanPath: scanPath).grid
        XCTAssertEqual(grid.spacing[0], 2.0, accuracy: 0.05)
        // Network axis 2 is NIfTI axis j (transpose_forward [0, 2, 1]): 56 voxels → 42.
        let s = 56.0 / 42.0
        let first = grid.affine.apply(SIMD3(0, 0, 0)), want = scan.grid.affine.apply(SIMD3(0.5 * 64 / 48 - 0.5, 0.5 * s - 0.5, 0.5 * 48 / 36 - 0.5))
        for a in 0..<3 { XCTAssertEqual(first[a], want[a], accuracy: 1e-9) }
    }

    /// A label map on the scan's grid reaches the resampled network grid by nearest neighbour:
    /// each network voxel takes the scan voxel whose centre is within half a scan voxel of its own.
    func testScanLabelsReachTheResampledGridByNearestNeighbour() throws {
        let scanPath = try fixture("resample_ct.nii.gz")
        let scan = try NIfTI.readVolume(scanPath)
        let pipeline = try NNUNetFolder(path: try fixture("resample_aniso/nnUNetTrainer__nnUNetPlans__3d_fullres")).pipeline()
        let input = try pipeline.prepare(scan, scanPath: scanPath)
        let ids = LabelMap(grid: scan.grid, labels: (0..<scan.grid.voxelCount).map { Int32($0) })
        let moved = input.fromScanGrid(ids)
        XCTAssertEqual(moved.count, input.tensor.count)
        let (grid, dims) = (input.grid, scan.grid.dims)
        let shape = input.shape
        for (n, id) in moved.enumerated() where n % 7 == 0 {
            let (a, b, c) = (n / (shape[1] * shape[2]), (n / shape[2]) % shape[1], n % shape[2])
            let v = Int(id)
            let (i, j, k) = (v % dims[0], (v / dims[0]) % dims[1], v / (dims[0] * dims[1]))
            let world = grid.world(Double(a), Double(b), Double(c))
            let voxel = try XCTUnwrap(scan.grid.affine.inverse).apply(world)
            for (x, index) in [(voxel.x, i), (voxel.y, j), (voxel.z, k)] {
                XCTAssertLessThanOrEqual(abs(x - Double(index)), 0.5 + 1e-9, "network voxel \([a, b, c])")
            }
        }
    }

    /// A configuration whose resampling is not nnU-Net's default refuses scans that need it,
    /// naming plans.json, and still runs scans that do not.
    func testUnsupportedResamplingFunctionIsRefusedWhenNeeded() throws {
        let source = try fixture("resample_iso/nnUNetTrainer__nnUNetPlans__3d_fullres")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nnunet-resampling-\(UUID().uuidString)")
            .appendingPathComponent("nnUNetTrainer__nnUNetPlans__3d_fullres")
        try FileManager.default.createDirectory(at: dir.deletingLastPathComponent(), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        try FileManager.default.copyItem(atPath: source, toPath: dir.path)
        let plansPath = dir.appendingPathComponent("plans.json").path
        let text = try String(contentsOfFile: plansPath, encoding: .utf8)
            .replacingOccurrences(of: "\"resampling_fn_data\": \"resample_data_or_seg_to_shape\"",
                                  with: "\"resampling_fn_data\": \"resample_torch_fornnunet\"")
        try text.write(toFile: plansPath, atomically: true, encoding: .utf8)
        let pipeline = try NNUNetFolder(path: dir.path).pipeline()
        let scanPath = try fixture("resample_ct.nii.gz")
        XCTAssertThrowsError(try pipeline.prepare(try NIfTI.readVolume(scanPath), scanPath: scanPath)) { error in
            XCTAssertTrue("\(error)".hasPrefix(plansPath + ": resampling_fn_data 'resample_torch_fornnunet'"), "\(error)")
        }
        // An order nnU-Net's plans could name but this resampler does not implement.
        let order2 = text.replacingOccurrences(of: "\"resampling_fn_data\": \"resample_torch_fornnunet\"",
                                               with: "\"resampling_fn_data\": \"resample_data_or_seg_to_shape\"")
            .replacingOccurrences(of: "\"order\": 1,", with: "\"order\": 2,")
        XCTAssertNotEqual(order2, text)
        try order2.write(toFile: plansPath, atomically: true, encoding: .utf8)
        let orderPipeline = try NNUNetFolder(path: dir.path).pipeline()
        XCTAssertThrowsError(try orderPipeline.prepare(try NIfTI.readVolume(scanPath), scanPath: scanPath)) { error in
            XCTAssertEqual("\(error)", plansPath + ": resampling_fn_probabilities_kwargs order must be one of [0, 1, 3]")
        }

        var affine = Affine.identity
        for a in 0..<3 { affine.m[a * 4 + a] = 2 }
        let atPlansSpacing = makeVolume(dims: [40, 40, 40], affine: affine) { i, j, k in Float(i + j + k) }
        XCTAssertEqual(try pipeline.prepare(atPlansSpacing, scanPath: "scan").shape, [40, 40, 40])
    }
}
