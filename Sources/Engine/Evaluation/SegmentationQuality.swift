import Foundation

/// Dice and IoU of one class, nil when the ground truth has no voxel of the class (MONAI's
/// `ignore_empty=True` gives NaN there).
public struct ClassQuality: Sendable, Equatable {
    public var dice: Double?
    public var iou: Double?

    public init(dice: Double?, iou: Double?) {
        self.dice = dice
        self.iou = iou
    }
}

public enum SegmentationQualityError: Error, CustomStringConvertible, Equatable {
    case sizeMismatch(prediction: Int, truth: Int)

    public var description: String {
        switch self {
        case let .sizeMismatch(p, t): return "prediction has \(p) voxels but the ground truth has \(t)"
        }
    }
}

/// Per-class overlap with a ground-truth label map: MONAI `DiceMetric` / `MeanIoU` on one-hot
/// maps with `include_background=True` (METHOD.md §1.5). Labels outside 0..<classes count as
/// no class. One pass over the voxels.
public enum SegmentationQuality {
    public static func perClass(prediction: [Int32], truth: [Int32], classes: Int) throws -> [ClassQuality] {
        guard prediction.count == truth.count else {
            throw SegmentationQualityError.sizeMismatch(prediction: prediction.count, truth: truth.count)
        }
        var p = [Int](repeating: 0, count: classes)
        var g = [Int](repeating: 0, count: classes)
        var both = [Int](repeating: 0, count: classes)
        for v in 0..<prediction.count {
            let a = Int(prediction[v]), b = Int(truth[v])
            if a >= 0 && a < classes { p[a] += 1 }
            if b >= 0 && b < classes { g[b] += 1 }
            if a == b && a >= 0 && a < classes { both[a] += 1 }
        }
        return (0..<classes).map { c in
            guard g[c] > 0 else { return ClassQuality(dice: nil, iou: nil) }
            let inter = Double(both[c])
            return ClassQuality(dice: 2 * inter / Double(p[c] + g[c]), iou: inter / Double(p[c] + g[c] - both[c]))
        }
    }
}
