import Engine
import Foundation
import TestSupport
import XCTest

/// The SwinUNETR fixtures of Fixtures/swin/make_swin_fixtures.py (MONAI 1.6.1, float32, one
/// thread). Weights and inputs are regenerated here from their keys by the script's hash.
enum SwinFixtures {
    static func url(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/swin/\(name)")
    }

    static func document(_ name: String) throws -> [String: JSONValue] {
        try XCTUnwrap(JSONValue.parse(Data(contentsOf: url("\(name).json"))).object)
    }

    static func expected(_ name: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: url("\(name).safetensors").path)
    }

    /// u_i in [0, 1) as `hashed_uniform` in the fixture script.
    static func uniform(_ key: String, count: Int) -> [Double] {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in key.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return (0..<count).map { i in
            var z = h &+ UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Double(z >> 40) / Double(1 << 24)
        }
    }

    static func values(_ key: String, count: Int, scale: Double, offset: Double) -> [Float] {
        uniform(key, count: count).map { Float(offset + scale * (2 * $0 - 1)) }
    }

    /// Writes model.json and model.safetensors for `name` into a fresh directory; `indexValues`
    /// replaces the relative-position index a case keeps (to test a wrong one).
    static func modelDirectory(_ name: String, in testCase: XCTestCase, model override: [String: JSONValue]? = nil,
                               tensors edit: ((inout [SafetensorsWriter.Entry]) -> Void)? = nil) throws -> String {
        let doc = try document(name)
        let dir = try makeTemporaryDirectory(testCase)
        let model = override ?? doc["model"]!.object!
        try JSONSerialization.data(withJSONObject: jsonObject(.object(model)), options: [.sortedKeys])
            .write(to: URL(fileURLWithPath: dir + "/model.json"))
        let architecture = try ModelDescription(path: dir + "/model.json").architecture
        let recipe = doc["recipe"]!.object!
        var entries: [SafetensorsWriter.Entry] = architecture.parameterShapes.map { key, shape in
            let r = recipe[key]?.array?.compactMap(\.number) ?? [0.1, 0]
            return .float(key, shape, values(key, count: shape.reduce(1, *), scale: r[0], offset: r[1]))
        }
        if doc["keep_index"]?.bool == true {
            for buffer in architecture.optionalIntegerBuffers {
                entries.append(.int64(buffer.key, buffer.shape, buffer.values))
            }
        }
        edit?(&entries)
        try SafetensorsWriter.write(entries, to: dir + "/model.safetensors")
        return dir
    }

    static func input(_ name: String, shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: values(name, count: shape.reduce(1, *), scale: 0.5, offset: 0.5))
    }

    static func jsonObject(_ v: JSONValue) -> Any {
        switch v {
        case .null: return NSNull()
        case .bool(let b): return b
        case .number(let n): return n
        case .string(let s): return s
        case .array(let a): return a.map(jsonObject)
        case .object(let o): return o.mapValues(jsonObject)
        }
    }
}

/// A minimal safetensors writer (F32 and I64) for generated fixtures.
enum SafetensorsWriter {
    enum Entry {
        case float(String, [Int], [Float])
        case int64(String, [Int], [Int])
        var key: String {
            switch self { case .float(let k, _, _), .int64(let k, _, _): return k }
        }
    }

    static func write(_ entries: [Entry], to path: String) throws {
        var header: [String] = []
        var body = Data()
        for e in entries {
            let start = body.count
            let (dtype, shape): (String, [Int])
            switch e {
            case .float(_, let s, let v):
                (dtype, shape) = ("F32", s)
                v.withUnsafeBytes { body.append(contentsOf: $0) }
            case .int64(_, let s, let v):
                (dtype, shape) = ("I64", s)
                v.map { Int64($0) }.withUnsafeBytes { body.append(contentsOf: $0) }
            }
            header.append("\"\(e.key)\": {\"dtype\": \"\(dtype)\", \"shape\": \(shape), \"data_offsets\": [\(start), \(body.count)]}")
        }
        let json = Data(("{" + header.joined(separator: ", ") + "}").utf8)
        var data = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        data.append(body)
        try data.write(to: URL(fileURLWithPath: path))
    }
}

final class SwinUNETRTests: XCTestCase {
    static let cases = ["v2_merging", "v1_mergingv2", "legacy"]

    /// Logits within 1e-4 of max|logit| and the target's input gradient within relative L2 1e-3
    /// of MONAI float32 (elementwise maxima differ at isolated LeakyReLU / norm kinks, §1.7).
    func testLogitsAndGradientMatchMONAI() throws {
        for name in Self.cases {
            let model = try SegmentationModel.load(directory: SwinFixtures.modelDirectory(name, in: self))
            let doc = try SwinFixtures.document(name)
            let shape = try XCTUnwrap(doc["input_shape"]?.array?.compactMap(\.int))
            let expected = try SwinFixtures.expected(name)
            let reference = try expected.tensor("logits")
            // The target mask comes from MONAI's logits, so a voxel whose argmax flips on a float32
            // near-tie does not change the seed.
            let (logits, gradient) = model.network.forward(SwinFixtures.input("input", shape: shape)) { logits in
                var g = Tensor(zeros: logits.shape)
                let plane = logits.count / 2
                for v in 0..<plane where reference.data[plane + v] > reference.data[v] { g.data[plane + v] = 1 }
                return g
            }
            let scale = reference.data.map { abs(Double($0)) }.max()!
            let logitError = maxAbsDifference(logits.data, reference.data) / scale
            XCTAssertLessThanOrEqual(logitError, ParityTolerance.logits, "\(name) logits")
            let gradientError = relativeL2Error(try XCTUnwrap(gradient).data, try expected.tensor("gradient").data)
            XCTAssertLessThanOrEqual(gradientError, ParityTolerance.gradientRelativeL2, "\(name) gradient")
            print("SwinUNETR \(name): logits max error \(logitError) of max|logit|, gradient relative L2 \(gradientError)")
        }
    }

    /// The same weights under the current merging order disagree with the legacy reference: the
    /// order matters and model.json's monai_version selects it.
    func testLegacyMergingOrderIsSelectedByMONAIVersion() throws {
        var model = try SwinFixtures.document("legacy")["model"]!.object!
        model.removeValue(forKey: "monai_version")
        let current = try SegmentationModel.load(directory: SwinFixtures.modelDirectory("legacy", in: self, model: model))
        let shape = try XCTUnwrap(SwinFixtures.document("legacy")["input_shape"]?.array?.compactMap(\.int))
        let reference = try SwinFixtures.expected("legacy").tensor("logits")
        let logits = current.network.forward(SwinFixtures.input("input", shape: shape))
        let scale = reference.data.map { abs(Double($0)) }.max()!
        XCTAssertGreaterThan(maxAbsDifference(logits.data, reference.data) / scale, 1e-2)
        let plane = logits.count / 2
        let agree = (0..<plane).filter { (logits.data[plane + $0] > logits.data[$0]) == (reference.data[plane + $0] > reference.data[$0]) }
        print("SwinUNETR legacy weights under the current merging order: argmax agreement "
              + String(format: "%.1f%%", 100 * Double(agree.count) / Double(plane)))
    }

    func testSlidingWindowMatchesMONAIInferer() throws {
        let model = try SegmentationModel.load(directory: SwinFixtures.modelDirectory("window", in: self))
        let image = try XCTUnwrap(SwinFixtures.document("window")["window_image"]?.array?.compactMap(\.int))
        let reference = try SwinFixtures.expected("window").tensor("window_logits")
        let logits = try model.logits(SwinFixtures.input("window_input", shape: [1] + image), progress: nil, cancel: nil)
        XCTAssertEqual(logits.shape, reference.shape)
        let scale = reference.data.map { abs(Double($0)) }.max()!
        XCTAssertLessThanOrEqual(maxAbsDifference(logits.data, reference.data) / scale, ParityTolerance.logits)
    }

    /// Every float key MONAI's state_dict has, and no other; the paper configuration has 167 keys
    /// (159 float tensors and 8 int64 relative_position_index buffers).
    func testStateDictKeysMatchMONAI() throws {
        for name in Self.cases + ["window"] {
            let doc = try SwinFixtures.document(name)
            let dir = try SwinFixtures.modelDirectory(name, in: self)
            let keys = try ModelDescription(path: dir + "/model.json").architecture.parameterShapes.map(\.key)
            XCTAssertEqual(keys.sorted(), doc["recipe"]!.object!.keys.sorted(), name)
        }
        let paper = try SwinUNETRArchitecture(arguments: [
            "in_channels": .number(1), "out_channels": .number(17), "feature_size": .number(48), "use_v2": .bool(true),
        ])
        XCTAssertEqual(paper.parameterShapes.count + paper.optionalIntegerBuffers.count, 167)
        let floats = paper.parameterShapes.reduce(0) { $0 + $1.shape.reduce(1, *) }
        XCTAssertEqual(floats, 72_762_803)
    }

    func testBadConfigurationsGetClearErrors() throws {
        let base: [String: JSONValue] = ["in_channels": .number(1), "out_channels": .number(2), "feature_size": .number(12)]
        let cases: [([String: JSONValue], String)] = [
            (["feature_size": .number(13)], "feature_size 13 must be divisible by 12"),
            (["num_heads": .array([5, 2, 2, 4].map { .number($0) })],
             "num_heads[0] = 5 does not divide stage 1's 12 channels"),
            (["downsample": .string("pool")], "downsample 'pool' is not supported (supported: merging, mergingv2)"),
            (["use_v2": .string("yes")], "use_v2 must be true or false"),
            (["img_size": .array([96, 96, 96].map { .number($0) })],
             "img_size was removed in MONAI 1.5; drop it, or set \"monai_version\" for a checkpoint from MONAI ≤ 1.4"),
        ]
        for (change, message) in cases {
            XCTAssertThrowsError(try SwinUNETRArchitecture(arguments: base.merging(change) { $1 })) { error in
                XCTAssertEqual((error as? ArchitectureError)?.message, message)
            }
        }
        let swin = try SwinUNETRArchitecture(arguments: base)
        XCTAssertEqual(swin.roiProblem([96, 96, 80]),
                       "roi_size [96, 96, 80] must have three sizes divisible by 32 (patch_size⁵ for SwinUNETR)")
        XCTAssertEqual(swin.roiProblem([32, 32, 32]),
                       "roi_size [32, 32, 32] leaves a one-voxel bottleneck; instance norm needs more than one voxel")
        XCTAssertNil(swin.roiProblem([32, 64, 96]))
    }

    func testBadModelFilesNameTheProblem() throws {
        var model = try SwinFixtures.document("v2_merging")["model"]!.object!
        model["monai_version"] = .string("one.four")
        XCTAssertThrowsError(try SwinFixtures.modelDirectory("v2_merging", in: self, model: model)) { error in
            XCTAssertTrue("\(error)".hasSuffix("model.json: monai_version 'one.four' is not a version such as \"1.4.0\""), "\(error)")
        }
        // A wrong relative_position_index, a missing, an extra and a mis-shaped tensor: one message.
        let dir = try SwinFixtures.modelDirectory("v2_merging", in: self) { entries in
            let key = "swinViT.layers1.0.blocks.0.attn.relative_position_index"
            entries = entries.map { e in
                if case .int64(key, let shape, var values) = e { values[5] += 1; return .int64(key, shape, values) }
                if case .float("out.conv.conv.bias", _, let v) = e { return .float("out.conv.conv.bias", [1, 2], v) }
                return e
            }
            entries.removeAll { $0.key == "encoder1.layer.conv3.conv.weight" }
            entries.append(.float("encoder1.layer.norm1.weight", [12], [Float](repeating: 1, count: 12)))
        }
        XCTAssertThrowsError(try SegmentationModel.load(directory: dir)) { error in
            let text = "\(error)"
            for part in ["missing encoder1.layer.conv3.conv.weight (expected [12, 1, 1, 1, 1])",
                         "unexpected encoder1.layer.norm1.weight (found [12])",
                         "wrong shape for out.conv.conv.bias: expected [2], found [1, 2]",
                         "swinViT.layers1.0.blocks.0.attn.relative_position_index differs from the index MONAI computes"] {
                XCTAssertTrue(text.contains(part), "\(part) in \(text)")
            }
        }
    }

    /// `segment` and `explain` run unchanged on a SwinUNETR model directory (the v1_mergingv2
    /// network at 6 mm, so the 3 mm sample CT takes four overlapping windows): the label map the CLI
    /// writes equals the in-process prediction, and the masses of the ranking sum to 1.
    func testCommandLineRunsOnSwinModel() throws {
        var model = try SwinFixtures.document("window")["model"]!.object!
        var pre = model["preprocessing"]!.object!
        pre["spacing"] = .array([6, 6, 6].map { .number($0) })
        model["preprocessing"] = .object(pre)
        let dir = try SwinFixtures.modelDirectory("window", in: self, model: model)
        let scan = try XCTUnwrap(SampleData.scanPath)
        let out = try makeTemporaryDirectory(self)
        let segment = try runAgg2Exp(["segment", scan, "--model", dir, "--out", out + "/seg.nii.gz"])
        XCTAssertEqual(segment.status, 0, segment.stderr)
        let loaded = try SegmentationModel.load(directory: dir)
        let (_, labels) = try loaded.predict(loaded.preprocess(try NIfTI.readVolume(scan)))
        XCTAssertEqual(try NIfTI.readLabelMap(out + "/seg.nii.gz").labels, labels.labels)
        // One worker gives the same labels (convolutions are translation-exact); 0 is refused.
        let single = try runAgg2Exp(["segment", scan, "--model", dir, "--out", out + "/seg1.nii.gz", "--threads", "1"])
        XCTAssertEqual(single.status, 0, single.stderr)
        XCTAssertEqual(try NIfTI.readLabelMap(out + "/seg1.nii.gz").labels, labels.labels)
        let refused = try runAgg2Exp(["segment", scan, "--model", dir, "--out", out + "/seg0.nii.gz", "--threads", "0"])
        XCTAssertEqual(refused.status, 64)
        XCTAssertTrue(refused.stderr.contains("--threads must be between 1 and 1024"), refused.stderr)
        let explain = try runAgg2Exp(["explain", scan, "--model", dir, "--target", "target", "--method", "gradient",
                                      "--json", out + "/ranking.json"])
        XCTAssertEqual(explain.status, 0, explain.stderr)
        let ranking = try XCTUnwrap(JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: out + "/ranking.json"))).object)
        let rows = try XCTUnwrap(ranking["segments"]?.array ?? ranking["ranking"]?.array)
        let total = rows.compactMap { $0.object?["mass"]?.number }.reduce(0, +)
        XCTAssertEqual(total, 1, accuracy: 1e-6)
    }

    func testMONAIVersionParsing() {
        XCTAssertEqual(MONAIVersion("1.4.0")?.description, "1.4.0")
        XCTAssertEqual(MONAIVersion("1.5")?.description, "1.5.0")
        XCTAssertEqual(MONAIVersion("1.3.2rc1")?.description, "1.3.2")
        XCTAssertEqual(MONAIVersion("1.4.0+cu118")?.description, "1.4.0")
        for bad in ["", "1", "1.", "1..2", "v1.4", "1.4.0.0.1", "one.four", "1.4 beta"] { XCTAssertNil(MONAIVersion(bad), bad) }
        XCTAssertLessThan(MONAIVersion("1.4.9")!, MONAIVersion(major: 1, minor: 5))
    }
}
