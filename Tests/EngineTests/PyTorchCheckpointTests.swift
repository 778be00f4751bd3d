import Engine
import Foundation
import TestSupport
import XCTest

/// The `.pth` reader against checkpoints written by `torch.save` (Fixtures/pth/make_pth_fixtures.py)
/// and the values torch itself reads back from them (expected.json).
final class PyTorchCheckpointTests: XCTestCase {
    private func fixture(_ name: String) throws -> String {
        try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/pth/\(name)").path
    }

    private func problem(_ path: String) -> String? {
        do {
            _ = try PyTorchCheckpoint(path: path)
            return nil
        } catch {
            XCTAssertEqual(error.path, path)
            return error.problem
        }
    }

    /// Every dtype, strided and offset views, a Parameter, and both prefixes stripped.
    func testEveryDTypeRoundTripsAsTorchReadsIt() throws {
        let checkpoint = try PyTorchCheckpoint(path: try fixture("dtypes.pth"))
        let expected = try XCTUnwrap(JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: try fixture("expected.json")))).object)
        XCTAssertEqual(Set(checkpoint.entries.keys), Set(expected.keys))
        let dtypes = ["f32": "F32", "f16": "F16", "bf16": "BF16", "f64": "F64", "i64": "I64", "i32": "I32"]
        for (name, dtype) in dtypes { XCTAssertEqual(checkpoint.entries[name]?.dtype, dtype, name) }
        for (name, value) in expected {
            let e = try XCTUnwrap(value.object)
            let entry = try XCTUnwrap(checkpoint.entries[name], name)
            XCTAssertEqual(entry.shape, e["shape"]!.array!.map { $0.int! }, name)
            let values = e["values"]!.array!.map { $0.number! }
            if e["floating"]!.bool! {
                XCTAssertEqual(try checkpoint.floats(name).map(Double.init), values.map { Double(Float($0)) }, name)
            } else {
                XCTAssertEqual(try checkpoint.integers(name), values.map { Int($0) }, name)
            }
        }
        XCTAssertEqual(checkpoint.root["epoch"], .int(3))
        XCTAssertEqual(checkpoint.root["note"], .string("fixture"))
    }

    /// nnU-Net's layout: weights under network_weights; its bookkeeping (a torch.device, NumPy
    /// scalars) is decoded as data.
    func testNNUNetCheckpointLayout() throws {
        let checkpoint = try PyTorchCheckpoint(path: try fixture("nnunet_style.pth"))
        XCTAssertEqual(Array(checkpoint.entries.keys), ["encoder.w"])
        XCTAssertEqual(try checkpoint.floats("encoder.w"), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(checkpoint.root["trainer_name"], .string("nnUNetTrainer"))
        XCTAssertEqual(checkpoint.root["init_args"]?["configuration"], .string("3d_fullres"))
        XCTAssertEqual(checkpoint.root["init_args"]?["device"], .opaque("device(cpu)"))
        XCTAssertEqual(checkpoint.root["_best_ema"], .float(0.75))
        XCTAssertEqual(checkpoint.root["logging"]?["ema_fg_dice"], .list([.float(0.25), .float(0.5)]))
        XCTAssertEqual(checkpoint.root["inference_allowed_mirroring_axes"], .list([.int(0), .int(1), .int(2)]))
    }

    func testBareStateDict() throws {
        let checkpoint = try PyTorchCheckpoint(path: try fixture("top_level.pth"))
        XCTAssertEqual(try checkpoint.floats("a"), [1, -2])
    }

    func testForbiddenGlobalsAreRefusedByName() throws {
        for (file, global) in [("os_system.pth", "os.system"), ("builtins_eval.pth", "builtins.eval")] {
            let message = try XCTUnwrap(problem(try fixture(file)), file)
            XCTAssertTrue(message.contains("refusing the global '\(global)'"), message)
        }
    }

    func testLegacyFormatIsRefusedWithAResaveHint() throws {
        let message = try XCTUnwrap(problem(try fixture("legacy.pth")))
        XCTAssertTrue(message.contains("legacy") && message.contains("torch.save(torch.load("), message)
    }

    func testStorageShorterThanItsTensor() throws {
        let message = try XCTUnwrap(problem(try fixture("short_storage.pth")))
        XCTAssertTrue(message.contains("tensor 'w'") && message.contains("holds only 8"), message)
    }

    /// A fuzzing find: an 8-byte length beyond Int trapped in the conversion instead of failing.
    func testLengthFieldBeyondIntIsAnError() throws {
        let message = try XCTUnwrap(problem(try fixture("huge_length.pth")))
        XCTAssertTrue(message.contains("length field exceeds the pickle"), message)
    }

    func testTruncatedAndCorruptArchives() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: try fixture("dtypes.pth")))
        let dir = try makeTemporaryDirectory(self)
        let truncated = dir + "/truncated.pth"
        try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: truncated))
        let t = try XCTUnwrap(problem(truncated))
        XCTAssertTrue(t.contains("corrupt or truncated zip"), t)

        // Flip the bytes of one stored float: the member's CRC-32 no longer matches.
        var corrupt = original
        let value = try PyTorchCheckpoint(path: try fixture("dtypes.pth")).floats("f32")[1]
        let pattern = withUnsafeBytes(of: value.bitPattern.littleEndian) { Data($0) }
        let at = try XCTUnwrap(corrupt.range(of: pattern))
        for i in at { corrupt[i] ^= 0xFF }
        let corruptPath = dir + "/corrupt.pth"
        try corrupt.write(to: URL(fileURLWithPath: corruptPath))
        let c = try XCTUnwrap(problem(corruptPath))
        XCTAssertTrue(c.contains("corrupt"), c)

        let garbage = dir + "/garbage.pth"
        try Data("hello".utf8).write(to: URL(fileURLWithPath: garbage))
        XCTAssertEqual(problem(garbage), "not a PyTorch checkpoint (neither a zip archive nor a pickle)")
        XCTAssertEqual(problem(dir + "/absent.pth"), "file not found")
    }
}

/// model.json may name a `.pth` checkpoint as its weights.
final class PyTorchWeightsModelTests: XCTestCase {
    func testModelWithPthWeightsMatchesTheSafetensorsModel() throws {
        let source = try NetworkFixtures.directory("batch")
        let dir = try makeTemporaryDirectory(self) + "/model"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let pth = try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/pth/batch_model.pth").path
        try FileManager.default.copyItem(atPath: pth, toPath: dir + "/weights.pth")
        var json = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: source + "/model.json"))) as? [String: Any])
        json["weights"] = "weights.pth"
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/model.json"))

        let fromPth = try SegmentationModel.load(directory: dir)
        let fromSafetensors = try SegmentationModel.load(directory: source)
        var rng = SystemRandomNumberGenerator()
        let input = Tensor(shape: [1, 16, 16, 16], data: (0..<4096).map { _ in Float.random(in: -1...1, using: &rng) })
        XCTAssertEqual(fromPth.network.forward(input), fromSafetensors.network.forward(input))

        json["weights"] = "../elsewhere.pth"
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/model.json"))
        XCTAssertThrowsError(try SegmentationModel.load(directory: dir)) { error in
            XCTAssertTrue("\(error)".contains("\"weights\" must be a file name beside model.json"), "\(error)")
        }
    }
}
