import Engine
import Foundation
import XCTest

/// The bundled sample model run by the engine on the bundled CT: it must reproduce the PyTorch
/// prediction and its quality against the grouped TotalSegmentator labels. Prints the per-class
/// Dice table quoted in SampleData/model/README.md.
final class SampleModelTests: XCTestCase {
    struct Outcome: Sendable {
        var classes: [String]
        var prediction: LabelMap
        var reference: LabelMap
        var truth: LabelMap
    }

    /// One forward pass shared by every test of the class.
    static let outcome: Result<Outcome, any Error> = Result {
        guard let dir = SampleData.modelDirectory, let scanPath = SampleData.scanPath,
              let labelsPath = SampleData.labelsPath else {
            throw LabelGroupsError(path: "SampleData", problem: "sample data not found")
        }
        let model = try SegmentationModel.load(directory: dir)
        let input = model.preprocess(try NIfTI.readVolume(scanPath))
        let prediction = try model.predict(input).labels
        let reference = try NIfTI.readLabelMap(dir + "/reference_prediction.nii.gz")
        let groups = try LabelGroups.load(dir + "/label_groups.json")
        guard groups.classes == model.classes else {
            throw LabelGroupsError(path: dir + "/label_groups.json", problem: "classes differ from model.json")
        }
        let truth = groups.grouped(try NIfTI.readLabelMap(labelsPath))
        return Outcome(classes: model.classes, prediction: prediction, reference: reference, truth: truth)
    }

    func testAgreesWithPyTorchPrediction() throws {
        let o = try Self.outcome.get()
        XCTAssertTrue(o.prediction.grid.matches(o.reference.grid))
        let same = zip(o.prediction.labels, o.reference.labels).filter { $0 == $1 }.count
        let agreement = Double(same) / Double(o.reference.labels.count)
        print(String(format: "sample model: voxel agreement with reference_prediction.nii.gz %.4f%% (%d of %d voxels differ)",
                     agreement * 100, o.reference.labels.count - same, o.reference.labels.count))
        // README: all but one voxel (a near-tie between two classes) agree.
        XCTAssertLessThanOrEqual(o.reference.labels.count - same, 1)
    }

    func testDiceAgainstGroupedLabels() throws {
        let o = try Self.outcome.get()
        XCTAssertTrue(o.prediction.grid.matches(o.truth.grid))
        let quality = try SegmentationQuality.perClass(prediction: o.prediction.labels, truth: o.truth.labels,
                                                       classes: o.classes.count)
        print("| class | Dice |\n|---|---|")
        var foreground: [Double] = []
        for c in 1..<o.classes.count {
            let dice = try XCTUnwrap(quality[c].dice, "class \(o.classes[c]) is absent from the ground truth")
            print(String(format: "| %@ | %.4f |", o.classes[c], dice))
            XCTAssertGreaterThan(dice, 0.5, o.classes[c])
            foreground.append(dice)
        }
        let mean = foreground.reduce(0, +) / Double(foreground.count)
        print(String(format: "| **mean foreground** | **%.4f** |", mean))
        XCTAssertGreaterThanOrEqual(mean, 0.80)
    }
}
