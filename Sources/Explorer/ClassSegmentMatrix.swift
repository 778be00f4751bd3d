import Engine

/// Where the class × segment matrix's selection is: a segment row and a target class. The column
/// follows the target, so it stays put when columns of other targets arrive.
public struct MatrixCursor: Equatable, Sendable {
    public var row: Int
    public var target: Int

    public init(row: Int = 0, target: Int) {
        self.row = row
        self.target = target
    }
}

/// The Agg²Exp value of every segment for every target whose attribution is known for the current
/// method: rows are segments, columns targets, values mass or mean (the rank key) of the current
/// processing.
public struct ClassSegmentMatrix: Equatable, Sendable {
    /// Target classes with a known attribution, ascending (the columns).
    public var targets: [Int]
    /// Segment labels (the rows): by the current target's value when it is known, else by label.
    public var segments: [Int32]
    /// `values[row][column]`; nil where a ranking has no value (no attribution mass at all).
    public var values: [[Double?]]
    /// Target classes without a known attribution for the method.
    public var missing: [Int]

    /// The column of the cursor's target (the first column when that target has none).
    public func column(of cursor: MatrixCursor) -> Int { targets.firstIndex(of: cursor.target) ?? 0 }

    /// Each column's sum over the rows shown: 1 for mass with the background row, less without it
    /// (Agg²Exp normalises a target's mass over all segments).
    /// nil for a target whose every value is undefined (e.g. a class with no predicted voxels).
    public var columnSums: [Double?] {
        targets.indices.map { c in
            let defined = values.compactMap { $0[c] }
            return defined.isEmpty ? nil : defined.reduce(0, +)
        }
    }

    /// The largest |value|: the shading scale, shared by every cell so columns compare.
    public var maxAbs: Double {
        values.joined().compactMap { $0.map(abs) }.max() ?? 0
    }
}

extension Explorer {
    /// Rankings known for the current method and processing: those the session found (computed
    /// or in the attribution cache) plus the one on screen.
    public var matrixRankings: [Int: [SegmentScore]] {
        var known = knownRankings
        if attribution != nil, !rows.isEmpty { known[state.target] = rows }
        return known
    }

    /// The matrix for the current method, rank key, processing and background setting.
    public var classSegmentMatrix: ClassSegmentMatrix {
        let known = matrixRankings
        let targets = known.keys.sorted()
        let key = rankValue
        var labels = Set(known.values.joined().map(\.label))
        if !state.includeBackground { labels.remove(0) }
        let current = Dictionary((known[state.target] ?? []).map { ($0.label, key($0) ?? -.infinity) },
                                 uniquingKeysWith: { a, _ in a })
        let segments = labels.sorted {
            let (a, b) = (current[$0] ?? -.infinity, current[$1] ?? -.infinity)
            return a != b ? a > b : $0 < $1
        }
        let byTarget = targets.map { t in
            Dictionary((known[t] ?? []).map { ($0.label, key($0)) }, uniquingKeysWith: { a, _ in a })
        }
        let values = segments.map { label in byTarget.map { $0[label] ?? nil } }
        let missing = targetNames.indices.filter { known[$0] == nil }
        return ClassSegmentMatrix(targets: targets, segments: segments, values: values, missing: missing)
    }

    /// Keys while the matrix is shown: arrows and hjkl move the selected cell, Enter jumps to its
    /// target and segment, Esc closes. Other keys (method, processing, rank key …) act as usual.
    mutating func matrixKey(_ key: Key) -> Reaction? {
        guard var cursor = state.matrix else { return nil }
        if let reaction = batchKey(key) { return reaction }
        let matrix = classSegmentMatrix
        let (rows, columns) = (matrix.segments.count, matrix.targets.count)
        var column = matrix.column(of: cursor)
        switch key {
        case .up, .char("k"): cursor.row -= 1
        case .down, .char("j"): cursor.row += 1
        case .left, .char("h"): column -= 1
        case .right, .char("l"): column += 1
        case .pageUp: cursor.row -= 10
        case .pageDown: cursor.row += 10
        case .escape:
            state.matrix = nil
            state.message = nil
            return .redraw
        case .enter:
            return jumpToMatrixCell(matrix, cursor)
        default:
            return nil
        }
        cursor.row = min(max(cursor.row, 0), max(rows - 1, 0))
        column = min(max(column, 0), max(columns - 1, 0))
        if column < columns { cursor.target = matrix.targets[column] }
        state.matrix = cursor
        return .redraw
    }

    /// Closes the matrix on the selected cell's target, highlighting its segment with the
    /// crosshair inside it.
    private mutating func jumpToMatrixCell(_ matrix: ClassSegmentMatrix, _ cursor: MatrixCursor) -> Reaction {
        guard cursor.row < matrix.segments.count, matrix.targets.contains(cursor.target) else {
            state.message = StatusMessage("No cell to jump to: no target has an attribution yet", isError: true)
            return .redraw
        }
        let label = matrix.segments[cursor.row], target = cursor.target
        state.matrix = nil
        state.highlighted = label
        if let anchor = scene.anchors[label] { state.crosshair = anchor }
        let changed = target != state.target
        state.target = target
        state.message = StatusMessage("Target \(targetName), segment \(scene.labelName(label)) highlighted")
        if changed { state.selectedRow = 0 }
        return changed ? .recompute : .redraw
    }
}
