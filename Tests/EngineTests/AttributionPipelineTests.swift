import Engine
import Foundation
import TestSupport
import XCTest

final class AttributionPipelineTests: XCTestCase {
    func testLabelMapToTensorOrderMatchesTensorTranspose() {
        let grid = Grid(dims: [3, 2, 4], affine: .identity)
        let labels = LabelMap(grid: grid, labels: (0..<24).map { Int32($0) })
        let volume = Volume(grid: grid, voxels: (0..<24).map { Float($0) })
        XCTAssertEqual(labels.labelsInTensorOrder.map { Float($0) }, Tensor(volume: volume).data)
    }

    /// Linear model, threshold 0.6: class 1 where x > 0.6.
    func setup() -> (LinearModel, Tensor, [Int32]) {
        let x = rampInput(3, 2, 2)
        let n = x.count
        let model = LinearModel(w: (0..<n).map { Float($0 % 3) + 1 }, bias: [Float](repeating: 0, count: n), threshold: 0.6)
        let prediction = x.data.map { Int32($0 > 0.6 ? 1 : 0) }
        return (model, x, prediction)
    }

    func testExplainAggregatesAndWritesTheJSONContract() throws {
        let (model, x, prediction) = setup()
        let rois = RoISet(labels: prediction, reported: [0, 1, 2], names: [0: "background", 1: "organ", 2: "absent"],
                          groups: [RoIGroup(name: "all", labels: [0, 1])])
        var options = AttributionOptions()
        options.steps = 5
        let e = try Explainer.explain(method: try AttributionMethods.make(.integratedGradients, options: options),
                                      options: options, model: model, input: x, prediction: prediction,
                                      classIndex: 1, className: "organ", rule: .sum, processing: .abs, rois: rois,
                                      progress: nil, cancel: nil)
        XCTAssertEqual(e.targetVoxels, prediction.filter { $0 == 1 }.count)
        // IG of a linear model on the mask is w·x there and 0 elsewhere: all mass in "organ".
        XCTAssertEqual(e.scores.map(\.name), ["background", "organ", "absent", "all"])
        XCTAssertEqual(e.scores.map(\.mass), [0, 1, 0, 1])
        XCTAssertNil(e.scores[2].mean)
        XCTAssertEqual(e.result.completenessDelta!, 0, accuracy: 1e-5)
        let json = Explainer.json(e, scan: "ct.nii.gz", model: "m")
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(object["method"] as? String, "integrated-gradients")
        XCTAssertEqual(object["process"] as? String, "abs")
        XCTAssertEqual((object["options"] as? [String: Any])?["steps"] as? Int, 5)
        XCTAssertEqual((object["target"] as? [String: Any])?["name"] as? String, "organ")
        XCTAssertEqual((object["target"] as? [String: Any])?["rule"] as? String, "sum")
        XCTAssertNotNil(object["completeness_delta"] as? Double)
        let segments = try XCTUnwrap(object["segments"] as? [[String: Any]])
        XCTAssertEqual(segments.map { $0["name"] as? String }, ["all", "organ", "background", "absent"]) // ties by label
        XCTAssertTrue(segments[3]["mean"] is NSNull)

        let row = Explainer.resultValues([e], quality: [("organ", ClassQuality(dice: 0.5, iou: 1.0 / 3))])
        XCTAssertEqual(row["organ_explanation_in_organ_mass"], 1)
        XCTAssertEqual(row["organ_dice"], 0.5)
        XCTAssertEqual(row["organ_explanation_var"] ?? nil, e.signedVariance)
    }

    func testEmptyTargetGivesUndefinedMassesWithoutRunningTheMethod() throws {
        let (model, x, prediction) = setup()
        let rois = RoISet(labels: prediction, reported: [0, 1], names: [:])
        let e = try Explainer.explain(method: KernelShap(samples: 10), options: AttributionOptions(), model: model,
                                      input: x, prediction: prediction, classIndex: 2, className: "label_2",
                                      rule: .sum, processing: .abs, rois: rois, progress: nil, cancel: nil)
        XCTAssertTrue(e.isEmptyTarget)
        XCTAssertEqual(e.scores.map(\.mass), [nil, nil])
        XCTAssertEqual(e.scores.map(\.mean), [0, 0])
        XCTAssertTrue(e.result.map.data.allSatisfy { $0 == 0 })
    }
}

final class AttributionPipelineKernelShapTests: XCTestCase {
    func testSharedCoalitionsGiveTheSameValuesAsPerTargetRuns() throws {
        // Three classes: z_0 = 0.55, z_1 = x, z_2 = 1 − x on a ramp: all three predicted.
        struct ThreeClass: ExplainableModel {
            var classCount: Int { 3 }
            func logits(_ input: Tensor, progress: ProgressHandler?, cancel: CancellationToken?) throws -> Tensor {
                let n = input.count
                var z = [Float](repeating: 0.55, count: 3 * n)
                for v in 0..<n {
                    z[n + v] = input.data[v]
                    z[2 * n + v] = 1 - input.data[v]
                }
                return Tensor(shape: [3] + input.shape.dropFirst(), data: z)
            }
            func targetGradient(_ input: Tensor, target: SegmentTarget, progress: ProgressHandler?,
                                cancel: CancellationToken?) throws -> Tensor {
                let mask = target.mask!
                let sign: Float = target.classIndex == 1 ? 1 : -1
                return Tensor(shape: input.shape, data: mask.map { $0 == Int32(target.classIndex) && target.classIndex > 0 ? sign : 0 })
            }
        }
        let x = Tensor(shape: [1, 4, 3, 1], data: (0..<12).map { Float($0) / 11 })
        let model = ThreeClass()
        let prediction = TargetFunction.argmax(try model.logits(x, progress: nil, cancel: nil))
        XCTAssertEqual(Set(prediction), [0, 1, 2])
        let shap = KernelShap(samples: 40, seed: 8)
        let rois = RoISet(labels: prediction, reported: [0, 1, 2], names: [:])
        let classes = [(index: 0, name: "a"), (index: 1, name: "b"), (index: 2, name: "c")]
        let shared = try Explainer.explain(method: shap, options: AttributionOptions(), model: model, input: x,
                                           prediction: prediction, classes: classes, rule: .sum, processing: .abs,
                                           rois: rois, progress: nil, cancel: nil)
        for (c, e) in zip(classes, shared) {
            let single = try Explainer.explain(method: shap, options: AttributionOptions(), model: model, input: x,
                                               prediction: prediction, classIndex: c.index, className: c.name,
                                               rule: .sum, processing: .abs, rois: rois, progress: nil, cancel: nil)
            assertAllClose(e.result.map.data, single.result.map.data, absTol: 1e-5, "class \(c.name)")
            XCTAssertEqual(e.className, c.name)
        }
    }
}
