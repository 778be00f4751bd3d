import Foundation

/// Outlier scores per explained class, as the official notebook computes them: one isolation
/// forest per class c, fitted on the reference scans' vectors (mass(c, s))_s over every segment
/// (background included), scoring the scored scans with `decision_function` (lower = more
/// anomalous), and Spearman's ρ of each class's score with that class's Dice, and of the mean
/// score over the classes with the mean Dice over their Dice columns.
public struct OutlierAnalysis: Sendable {
    public struct ClassResult: Sendable {
        public var target: String
        /// Reference scans with a complete vector (the notebook drops rows with NA).
        public var fittedScans: Int
        /// Per scored scan; nil where the scan's vector has a missing value.
        public var scores: [Double?]
        /// `{target}_dice` per scored scan; nil when the column is absent or the value missing.
        public var dice: [Double?]
        public var hasDice: Bool
        public var spearman: Double? { hasDice ? RankCorrelation.spearman(scores, dice) : nil }

        /// Scored scan indices, most anomalous first (missing scores last).
        public var ranking: [Int] {
            scores.indices.sorted {
                switch (scores[$0], scores[$1]) {
                case let (a?, b?): return a != b ? a < b : $0 < $1
                case (_?, nil): return true
                case (nil, _?): return false
                case (nil, nil): return $0 < $1
                }
            }
        }
    }

    public var options: IsolationForest.Options
    public var referenceSource: String
    public var scoredSource: String
    public var patients: [String]
    public var classes: [ClassResult]

    /// `targets` nil means every explained class. The scored table defaults to the reference.
    public init(reference: MassCube, scored: MassCube? = nil, scoredTable: ResultsTable,
                targets: [String]? = nil, options: IsolationForest.Options = .init()) throws {
        let scored = scored ?? reference
        let names = try (targets ?? reference.classes).map { name -> String in
            _ = try reference.requireClass(name)
            return name
        }
        var results: [ClassResult] = []
        for name in names {
            let c = reference.classIndex(name)!
            let rois = reference.rois.indices.filter { r in reference.distribution(target: c, roi: r).contains { $0 != nil } }
            let features = rois.map { reference.rois[$0] }
            let missing = features.filter { scored.classIndex(name) == nil || scored.roiIndex($0) == nil }
                .map { scored.family.column(target: name, roi: $0) }
            guard missing.isEmpty else {
                throw AnalysisError.missingColumns(file: scored.source, needed: "scoring class \"\(name)\"", columns: missing)
            }
            let training: [[Double]] = reference.patients.indices.compactMap { p in
                let v = rois.map { reference.mass(scan: p, target: c, roi: $0) }
                return v.contains { $0 == nil } ? nil : v.map { $0! }
            }
            guard training.count >= 2 else {
                throw AnalysisError.tooFewScans(file: reference.source, target: name, count: training.count)
            }
            let forest = IsolationForest(fitting: training, options: options)
            let sc = scored.classIndex(name)!
            let scoredRoIs = features.map { scored.roiIndex($0)! }
            let scores: [Double?] = scored.patients.indices.map { p in
                let v = scoredRoIs.map { scored.mass(scan: p, target: sc, roi: $0) }
                return v.contains { $0 == nil } ? nil : forest.decisionFunction(v.map { $0! })
            }
            let diceColumn = scoredTable.column(ResultsColumns.dice(name))
            results.append(ClassResult(target: name, fittedScans: training.count, scores: scores,
                                       dice: diceColumn ?? scores.map { _ in nil }, hasDice: diceColumn != nil))
        }
        self.options = options
        self.referenceSource = reference.source
        self.scoredSource = scored.source
        self.patients = scored.patients
        self.classes = results
    }

    /// Per scored scan, the mean score over the classes (nil if any class score is missing).
    public var meanScore: [Double?] {
        patients.indices.map { p in
            let s = classes.map { $0.scores[p] }
            return s.contains { $0 == nil } ? nil : s.map { $0! }.reduce(0, +) / Double(s.count)
        }
    }

    /// Per scored scan, the mean Dice over the classes that have a Dice column (pandas mean,
    /// missing values skipped); nil without Dice columns.
    public var meanDice: [Double?] {
        let withDice = classes.filter(\.hasDice)
        guard !withDice.isEmpty else { return patients.map { _ in nil } }
        return patients.indices.map { p in
            let d = withDice.compactMap { $0.dice[p] }
            return d.isEmpty ? nil : d.reduce(0, +) / Double(d.count)
        }
    }

    public var hasDice: Bool { classes.contains(where: \.hasDice) }

    public var meanSpearman: Double? { hasDice ? RankCorrelation.spearman(meanScore, meanDice) : nil }

    /// CSV: `patient`, one `{class}_outlier_score` column per class, then `mean_outlier_score`
    /// when more than one class was scored; empty fields where a score is missing.
    public func scoresCSV() -> String {
        func field(_ v: Double?) -> String { v.map { "\($0)" } ?? "" }
        var header = ["patient"] + classes.map { "\($0.target)_outlier_score" }
        if classes.count > 1 { header.append("mean_outlier_score") }
        var out = header.map(ResultsTable.quote).joined(separator: ",") + "\n"
        let mean = meanScore
        for (p, patient) in patients.enumerated() {
            var row = [ResultsTable.quote(patient)] + classes.map { field($0.scores[p]) }
            if classes.count > 1 { row.append(field(mean[p])) }
            out += row.joined(separator: ",") + "\n"
        }
        return out
    }

    /// The summary table: per class ρ(score, Dice), the most and the least anomalous scans;
    /// with `mark` (a scored patient id) also that scan's score and rank per class.
    public func text(top: Int = 3, mark: String? = nil) -> String {
        let o = options
        var out = "IsolationForest per class (\(o.trees) trees, max_samples min(\(o.maxSamples), n), seed \(o.seed)); "
            + "fitted on \(referenceSource), scoring \(scoredSource) (\(patients.count) scans)\n"
        out += "decision_function: lower = more anomalous, < 0 = predicted outlier\n"
        let width = max(12, classes.map(\.target.count).max() ?? 0) + 1
        func entry(_ p: Int, _ c: ClassResult) -> String {
            patients[p] + (c.scores[p].map { String(format: " %+.3f", $0) } ?? " n/a")
        }
        if let mark, patients.contains(mark) { out += "\(mark) (rank)".padded(21) }
        out += "class".padded(width) + "fit  ρ(score,Dice)  most anomalous" + String(repeating: " ", count: 8 + 13 * (top - 1))
            + "least anomalous\n"
        for c in classes {
            let r = c.ranking
            let most = r.prefix(top).map { entry($0, c) }.joined(separator: ", ")
            let least = r.filter { c.scores[$0] != nil }.suffix(top).reversed().map { entry($0, c) }.joined(separator: ", ")
            if let m = mark.flatMap({ patients.firstIndex(of: $0) }) {
                let rank = (r.firstIndex(of: m) ?? 0) + 1
                out += ((c.scores[m].map { String(format: "%+.3f", $0) } ?? "n/a").leftPadded(7)
                        + " (\(rank)/\(patients.count))").padded(21)
            }
            out += c.target.padded(width) + String(c.fittedScans).leftPadded(3)
                + (c.spearman.map { String(format: "%+.3f", $0) } ?? "n/a").leftPadded(15) + "  "
                + most.padded(22 + 13 * (top - 1)) + least + "\n"
        }
        if classes.count > 1 {
            let ms = meanScore
            let order = ms.indices.filter { ms[$0] != nil }.sorted { ms[$0]! < ms[$1]! }
            out += "mean score over \(classes.count) classes: most anomalous "
                + order.prefix(top).map { patients[$0] + String(format: " %+.3f", ms[$0]!) }.joined(separator: ", ") + "\n"
        }
        if classes.count > 1, hasDice, let r = meanSpearman {
            out += String(format: "Spearman ρ(mean score, mean Dice) = %+.3f\n", r)
        }
        if !hasDice { out += "no {class}_dice columns in \(scoredSource): no Dice correlation\n" }
        return out
    }

    /// All scans of one class, most anomalous first, with score, Dice and a bar of the score
    /// relative to the range (a long bar = far from typical).
    public func scanText(_ result: ClassResult, mark: String? = nil, barWidth: Int = 20) -> String {
        let defined = result.scores.compactMap { $0 }
        let lo = defined.min() ?? 0, hi = defined.max() ?? 0
        let idWidth = max(8, patients.map(\.count).max() ?? 0) + 1
        var out = "\(result.target): \(patients.count) scans, most anomalous first"
            + (result.spearman.map { String(format: "; Spearman ρ(score, Dice) = %+.3f", $0) } ?? "") + "\n"
        out += "scan".padded(idWidth) + "   score   dice\n"
        for p in result.ranking {
            let s = result.scores[p]
            out += (patients[p] == mark ? "○ " : "") + patients[p].padded(idWidth)
                + (s.map { String(format: "%+7.3f", $0) } ?? "    n/a")
                + (result.dice[p].map { String(format: "  %.3f", $0) } ?? "      –") + "  "
                + TextPlot.bar(s.map { hi > lo ? (hi - $0) / (hi - lo) : 0 } ?? 0, width: barWidth) + "\n"
        }
        return out
    }
}
