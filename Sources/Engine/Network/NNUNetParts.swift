import Foundation

/// Several nnU-Net folders whose label maps are merged into one, as TotalSegmentator merges the
/// five parts of its `total` task (291–295, `nnUNet_predict_image`): the classes are the union of
/// the parts' foreground classes in part order (TotalSegmentator's `class_map["total"]` order),
/// each part's labels go through a lookup table to the union's, and later parts overwrite earlier
/// ones wherever their mapped label is non-zero. A target is explained through the part that
/// predicts it. One folder is the one-part case, with the identity table.
public struct NNUNetParts: Sendable {
    public let parts: [NNUNetModel]
    /// "background", then every part's foreground classes in part order.
    public let classes: [String]
    /// table[p][local label] = merged label.
    public let table: [[Int32]]

    /// Checks that the parts can share one network grid: the same spacing, axis permutation,
    /// resampling and a class set of their own (a class in two parts is refused).
    public init(parts: [NNUNetModel]) throws(ModelError) {
        precondition(!parts.isEmpty)
        let first = parts[0].pipeline.folder
        var classes = ["background"]
        var owner: [String: String] = [:]
        var table: [[Int32]] = []
        for part in parts {
            let folder = part.pipeline.folder
            guard folder.spacing == first.spacing, folder.transposeForward == first.transposeForward else {
                throw ModelError(path: folder.path, problem: "a model part must share the first part's spacing "
                    + "\(first.spacing) and transpose_forward \(first.transposeForward) (\(first.path)); found "
                    + "\(folder.spacing) and \(folder.transposeForward)")
            }
            guard (try? folder.resampling.get()) == (try? first.resampling.get()) else {
                throw ModelError(path: folder.path + "/" + NNUNetFolder.plansFile, problem: "a model part must resample "
                    + "as the first part does (\(first.path)): the same resampling_fn_data_kwargs and "
                    + "resampling_fn_probabilities_kwargs")
            }
            var row: [Int32] = [0]
            for name in folder.classes.dropFirst() {
                if let other = owner[name] {
                    throw ModelError(path: folder.path + "/" + NNUNetFolder.datasetFile,
                                     problem: "class '\(name)' is also predicted by the part \(other); parts must "
                                        + "predict disjoint classes")
                }
                owner[name] = folder.path
                row.append(Int32(classes.count))
                classes.append(name)
            }
            table.append(row)
        }
        (self.parts, self.classes, self.table) = (parts, classes, table)
    }

    /// The part predicting merged class `c` (> 0) and its label there.
    public func part(predicting c: Int) -> (part: Int, label: Int)? {
        for (p, row) in table.enumerated() {
            if let local = row.firstIndex(of: Int32(c)), local > 0 { return (p, local) }
        }
        return nil
    }

    /// TotalSegmentator's merge: each part's labels through its table, copied where non-zero,
    /// later parts last.
    public func merge(_ labels: [[Int32]]) -> [Int32] {
        precondition(labels.count == parts.count)
        var merged = [Int32](repeating: 0, count: labels[0].count)
        for (p, part) in labels.enumerated() {
            let row = table[p]
            for v in part.indices {
                let mapped = row[Int(part[v])]
                if mapped != 0 { merged[v] = mapped }
            }
        }
        return merged
    }

    /// The merged map in part `p`'s labels: its own classes keep their label, every other
    /// voxel is background. This is the prediction a target of part `p` is explained over.
    public func labels(_ merged: [Int32], inPart p: Int) -> [Int32] {
        var local = [Int32](repeating: 0, count: classes.count)
        for (label, mergedLabel) in table[p].enumerated() { local[Int(mergedLabel)] = Int32(label) }
        local[0] = 0
        return merged.map { local[Int($0)] }
    }
}
