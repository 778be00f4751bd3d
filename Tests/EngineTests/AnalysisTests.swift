import Engine
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

private func fixtureJSON(_ name: String) throws -> [String: Any] {
    let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/analysis/\(name)", withExtension: "json"))
    return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
}

private func officialCube() throws -> (ResultsTable, MassCube) {
    let table = try ResultsTable.read(try officialResultsURL())
    return (table, try MassCube(table: table, source: "official.csv"))
}

/// A results table with the given mass columns, one row per scan.
private func table(_ rows: [[String: Double?]]) throws -> ResultsTable {
    var columns: [String] = []
    for r in rows { for k in r.keys.sorted() where !columns.contains(k) { columns.append(k) } }
    var t = ResultsTable(columns: columns)
    for (n, r) in rows.enumerated() { try t.append(patient: "p\(n)", values: r) }
    return t
}

/// Parses `xml` with Foundation's XMLParser; returns the root element name and all text content.
private func parseXML(_ xml: String) -> (root: String?, text: String, error: String?) {
    final class Collector: NSObject, XMLParserDelegate {
        var root: String?
        var text = ""
        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                    qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
            if root == nil { root = elementName }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
    }
    let parser = XMLParser(data: Data(xml.utf8))
    let collector = Collector()
    parser.delegate = collector
    let ok = parser.parse()
    return (collector.root, collector.text, ok ? nil : "\(parser.parserError.map { "\($0)" } ?? "parse failed")")
}

final class AnalysisTests: XCTestCase {
    // MARK: Matrix

    func testMeanMassesReproduceTheValuesQuotedFromTheOfficialCSV() throws {
        let (_, cube) = try officialCube()
        let m = MassMatrix(cube: cube)
        XCTAssertEqual(m.rows.count, 16)
        XCTAssertFalse(m.rows.contains("background") || m.columns.contains("background"))
        // Rounded to 3 decimals as METHOD.md §3.5 quotes them.
        let quoted: [(String, String, Double)] = [
            ("lung_lower_lobe_left", "lung_lower_lobe_left", 0.106), ("lung_lower_lobe_left", "lung_upper_lobe_left", 0.078),
            ("lung_lower_lobe_left", "heart", 0.028), ("trachea", "trachea", 0.005),
            ("thyroid_gland", "lung_upper_lobe_right", 0.156),
        ]
        for (to, from, value) in quoted {
            XCTAssertEqual(try XCTUnwrap(m.value(to, from)), value, accuracy: 5e-4, "\(to) ← \(from)")
        }
        let withBackground = MassMatrix(cube: cube, includeBackground: true)
        XCTAssertEqual(withBackground.rows.first, "background")
        XCTAssertEqual(try XCTUnwrap(withBackground.value("background", "background")), 0.847, accuracy: 5e-4)
    }

    func testMeanAndMedianMatricesMatchNumpy() throws {
        let (_, cube) = try officialCube()
        let reference = try fixtureJSON("cluster_reference")
        let classes = try XCTUnwrap(reference["classes"] as? [String])
        let rois = try XCTUnwrap(reference["rois"] as? [String])
        for (statistic, key) in [(MatrixStatistic.mean, "mean_matrix"), (.median, "median_matrix")] {
            let m = MassMatrix(cube: cube, statistic: statistic)
            XCTAssertEqual(m.rows, classes)
            XCTAssertEqual(m.columns, rois)
            let expected = try XCTUnwrap(reference[key] as? [[Double]])
            // Sums of 32 doubles in different orders: a few ulps.
            assertAllCloseRows(m.values, expected, tolerance: 1e-12, key)
        }
    }

    private func assertAllCloseRows(_ a: [[Double?]], _ b: [[Double]], tolerance: Double, _ what: String) {
        XCTAssertEqual(a.count, b.count, what)
        for (r, (x, y)) in zip(a, b).enumerated() {
            XCTAssertEqual(x.count, y.count, what)
            for (c, (u, v)) in zip(x, y).enumerated() {
                XCTAssertEqual(u ?? .nan, v, accuracy: tolerance, "\(what)[\(r)][\(c)]")
            }
        }
    }

    func testMatrixCSVAndHeatmapShowTheValues() throws {
        let (_, cube) = try officialCube()
        let m = MassMatrix(cube: cube)
        let parsed = try ResultsTable.parse(m.csvText().replacingOccurrences(of: "explained_class", with: "patient"),
                                            source: "matrix.csv")
        XCTAssertEqual(parsed.patients, m.rows)
        XCTAssertEqual(parsed.column("heart")?[parsed.patients.firstIndex(of: "lung_lower_lobe_left")!], m.value("lung_lower_lobe_left", "heart"))
        let line = try XCTUnwrap(m.textHeatmap().split(separator: "\n").first { $0.hasPrefix("thyroid_gland ") })
        XCTAssertTrue(line.contains(".156█"), String(line))
    }

    func testPosAndNegFamiliesReadTheSuffixedColumns() throws {
        let t = try table([["a_explanation_in_a_mass_pos": 0.4, "a_explanation_in_b_mass_pos": 0.6,
                            "a_explanation_in_a_mass_neg": 0.9, "a_explanation_in_b_mass_neg": 0.1]])
        XCTAssertThrowsError(try MassCube(table: t, family: .abs, source: "pn.csv")) {
            XCTAssertEqual("\($0)", "pn.csv: no {target}_explanation_in_{roi}_mass columns")
        }
        let neg = MassMatrix(cube: try MassCube(table: t, family: .neg, source: "pn.csv"))
        XCTAssertEqual(neg.value("a", "a"), 0.9)
        XCTAssertEqual(neg.value("a", "b"), 0.1)
    }

    // MARK: Graph

    func testTopKEdgesAndWidthsFollowTheOfficialRules() throws {
        let (_, cube) = try officialCube()
        let m = MassMatrix(cube: cube)
        let graph = try DependencyGraph(matrices: [m], selection: .topK(3))
        XCTAssertEqual(graph.edges.count, 16 * 3)
        let lll = graph.edges.filter { $0.to == "lung_lower_lobe_left" }
        XCTAssertEqual(lll.map(\.from), ["lung_lower_lobe_left", "lung_upper_lobe_left", "heart"])
        let top = try XCTUnwrap(graph.edges.max { $0.weight < $1.weight })
        XCTAssertEqual(top.from, "lung_upper_lobe_right")
        XCTAssertEqual(top.to, "thyroid_gland")
        XCTAssertEqual(top.width, 2, accuracy: 1e-12)
        XCTAssertEqual(lll[2].width, 2 * (lll[2].weight + 0.02) / (top.weight + 0.02), accuracy: 1e-12)
        let dot = graph.dot(groups: .default, title: "t")
        XCTAssertTrue(dot.contains("\"heart\" [label=\"heart\", fillcolor=\"#db4437\""), dot)
        XCTAssertTrue(dot.contains("\"lung_upper_lobe_right\" -> \"thyroid_gland\" [penwidth=2.0000"), dot)
    }

    func testCumulativeSelectionStopsBeforeTheThreshold() throws {
        // Class a: 0.2 (a), 0.1 (b), 0.05 (c) → cumulative 0.2, 0.3, 0.35; b: 0.3 alone.
        let t = try table([["a_explanation_in_a_mass": 0.2, "a_explanation_in_b_mass": 0.1, "a_explanation_in_c_mass": 0.05,
                            "b_explanation_in_a_mass": 0.3, "b_explanation_in_b_mass": 0.01]])
        let m = MassMatrix(cube: try MassCube(table: t, source: "t.csv"))
        let g = try DependencyGraph(matrices: [m], selection: .cumulative(0.32))
        // a keeps 0.2 and 0.1 (0.35 would pass 0.32); b keeps 0.3 and 0.01 (cumulative 0.31).
        XCTAssertEqual(g.edges.map { "\($0.from)→\($0.to)" }, ["a→a", "b→a", "a→b", "b→b"])
        let g2 = try DependencyGraph(matrices: [m], selection: .cumulative(0.25))
        XCTAssertEqual(g2.edges.map { "\($0.from)→\($0.to)" }, ["a→a"])
        XCTAssertTrue(g2.adjacencyText().split(separator: "\n").contains { $0.hasPrefix("b ") && $0.contains("← (no edge") },
                      g2.adjacencyText())
        for bad in [0.0, -0.1, 1.5] {
            XCTAssertThrowsError(try DependencyGraph(matrices: [m], selection: .cumulative(bad))) {
                XCTAssertEqual("\($0)", "cumulative mass threshold \(bad) is outside (0, 1]")
            }
        }
    }

    // MARK: Context

    func testSelfMassRanksClassesByMedianAsTheReferenceTable() throws {
        let (_, cube) = try officialCube()
        let context = try SelfMass(cube: cube)
        // METHOD.md §2.6 self-mass table (medians to 3 decimals), in its order.
        let expected: [(String, Double)] = [
            ("lung_lower_lobe_right", 0.127), ("lung_upper_lobe_right", 0.113), ("lung_upper_lobe_left", 0.106),
            ("lung_lower_lobe_left", 0.097), ("heart", 0.062), ("lung_middle_lobe_right", 0.056),
        ]
        for (row, (name, median)) in zip(context.rows, expected) {
            XCTAssertEqual(row.target, name)
            XCTAssertEqual(row.box.summary.median, median, accuracy: 5e-4, name)
        }
        XCTAssertEqual(context.rows.count, 16)
        XCTAssertEqual(context.rows.last?.target, "thyroid_gland")
    }

    func testBoxWhiskersStopAtOneAndAHalfIQR() throws {
        // Quartiles (type 7) of 1…9 and 30: q1 3.25, q3 7.75, IQR 4.5, fences −3.5 and 14.5.
        let box = try XCTUnwrap(BoxStatistics([1, 2, 3, 4, 5, 6, 7, 8, 9, 30]))
        XCTAssertEqual(box.summary.q1, 3.25)
        XCTAssertEqual(box.summary.q3, 7.75)
        XCTAssertEqual(box.lowerWhisker, 1)
        XCTAssertEqual(box.upperWhisker, 9)
        XCTAssertEqual(box.outliers, [30])
    }

    func testContextNamesMissingSelfMassColumns() throws {
        let t = try table([["a_explanation_in_b_mass": 0.5, "b_explanation_in_b_mass": 0.5]])
        XCTAssertThrowsError(try SelfMass(cube: try MassCube(table: t, source: "t.csv"))) {
            XCTAssertEqual("\($0)", "t.csv: the self-mass (context) analysis needs columns that are missing: \"a_explanation_in_a_mass\"")
        }
    }

    // MARK: Clustering

    func testClusteringMatchesScipyLinkageForEveryMethod() throws {
        let (_, cube) = try officialCube()
        let reference = try fixtureJSON("cluster_reference")
        let labels = try XCTUnwrap(reference["labels"] as? [String])
        let condensed = try XCTUnwrap(reference["condensed"] as? [Double])
        let methods = try XCTUnwrap(reference["methods"] as? [String: [String: Any]])
        for method in LinkageMethod.allCases {
            let h = try HierarchicalClustering(matrix: MassMatrix(cube: cube), method: method, source: "official.csv")
            XCTAssertEqual(h.labels, labels)
            XCTAssertEqual(h.distances.count, condensed.count)
            XCTAssertLessThanOrEqual(zip(h.distances, condensed).map { abs($0 - $1) }.max() ?? 1, 1e-15)
            let expected = try XCTUnwrap(methods[method.rawValue])
            let z = try XCTUnwrap(expected["Z"] as? [[Double]])
            XCTAssertEqual(h.merges.count, z.count)
            for (k, (m, row)) in zip(h.merges, z).enumerated() {
                XCTAssertEqual([m.left, m.right, m.size], [Int(row[0]), Int(row[1]), Int(row[3])], "\(method) merge \(k)")
                // Same merges in the same order; heights from a different summation order.
                XCTAssertEqual(m.height, row[2], accuracy: 1e-9, "\(method) merge \(k)")
            }
            XCTAssertEqual(try XCTUnwrap(h.copheneticCorrelation),
                           try XCTUnwrap(expected["cophenetic_correlation"] as? Double), accuracy: 1e-9, "\(method)")
            XCTAssertEqual(h.leafOrder, try XCTUnwrap(expected["leaves"] as? [Int]), "\(method)")
        }
    }

    func testNewickAndDendrogramOfAHandWorkedTree() {
        // d(a,b) = 1, d(a,c) = 4, d(b,c) = 3: average linkage joins a, b at 1, then c at (4 + 3)/2.
        let h = HierarchicalClustering(labels: ["a", "b", "c"], distances: [1, 4, 3], method: .average)
        XCTAssertEqual(h.merges.map { [Double($0.left), Double($0.right), $0.height, Double($0.size)] }, [[0, 1, 1, 2], [2, 3, 3.5, 3]])
        // scipy puts the smaller cluster id (leaf c = 2) first.
        XCTAssertEqual(h.newick, "(c:3.500000,(a:1.000000,b:1.000000):2.500000);\n")
        XCTAssertEqual(h.leafOrder, [2, 0, 1])
        // Heights 1 and 3.5 on 8 columns: a–b joins at column round(1/3.5 · 7) = 2, the root at 7.
        let lines = h.textDendrogram(width: 8).split(separator: "\n").dropFirst().prefix(5)
            .map { String($0.reversed().drop { $0 == " " }.reversed()) }
        XCTAssertEqual(lines, [
            "c            ───────┐",
            "                    ├─",
            "a            ──┐    │",
            "               ├────┘",
            "b            ──┘",
        ])
        XCTAssertEqual(HierarchicalClustering(labels: ["a", "b", "c"], distances: [1, 4, 3], method: .single).merges.last?.height, 3)
        XCTAssertEqual(HierarchicalClustering(labels: ["a", "b", "c"], distances: [1, 4, 3], method: .complete).merges.last?.height, 4)
    }

    // MARK: Isolation forest and Spearman

    func testAveragePathLengthMatchesSklearn() throws {
        let reference = try XCTUnwrap(try fixtureJSON("isolation_forest_reference")["average_path_length"] as? [String: Double])
        for (n, value) in reference {
            XCTAssertEqual(IsolationForest.averagePathLength(Int(n)!), value, accuracy: 1e-12, n)
        }
    }

    func testSpearmanMatchesScipyWithTies() throws {
        let reference = try fixtureJSON("isolation_forest_reference")
        let ties = try XCTUnwrap(reference["spearman_ties"] as? [String: Any])
        let x = try XCTUnwrap(ties["x"] as? [Double]), y = try XCTUnwrap(ties["y"] as? [Double])
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.spearman(x, y)), try XCTUnwrap(ties["rho"] as? Double), accuracy: 1e-12)
        // scipy's ρ of sklearn's own seed-123 scores with Dice: the same inputs give the same ρ.
        let (table, _) = try officialCube()
        let scores = try XCTUnwrap((reference["decision_function"] as? [String: [String: [Double]]])?["123"])
        let rhos = try XCTUnwrap(reference["spearman_dice_seed123"] as? [String: Double])
        for (label, rho) in rhos {
            let dice = try XCTUnwrap(table.column(ResultsColumns.dice(label)))
            XCTAssertEqual(try XCTUnwrap(RankCorrelation.spearman(try XCTUnwrap(scores[label]), dice)), rho,
                           accuracy: 1e-12, label)
        }
        XCTAssertNil(RankCorrelation.spearman([1, 1, 1], [1, 2, 3]))
    }

    func testIsolationForestAgreesWithSklearnOverFiveSeeds() throws {
        let (table, cube) = try officialCube()
        let reference = try fixtureJSON("isolation_forest_reference")
        let seeds = try XCTUnwrap(reference["seeds"] as? [Int])
        let sklearn = try XCTUnwrap(reference["decision_function"] as? [String: [String: [Double]]])
        XCTAssertEqual(reference["patients"] as? [String], cube.patients)
        var rhos: [Double] = []
        var sameMostAnomalous = 0, comparisons = 0
        var pooledOurs: [String: [Double]] = [:], pooledSklearn: [String: [Double]] = [:]
        for seed in seeds {
            let analysis = try OutlierAnalysis(reference: cube, scoredTable: table,
                                               options: .init(seed: UInt64(seed)))
            XCTAssertEqual(analysis.classes.count, 17)
            for c in analysis.classes {
                let ours = c.scores.map { $0! }
                let theirs = try XCTUnwrap(sklearn[String(seed)]?[c.target])
                rhos.append(try XCTUnwrap(RankCorrelation.spearman(ours, theirs)))
                comparisons += 1
                if ours.indices.min(by: { ours[$0] < ours[$1] }) == theirs.indices.min(by: { theirs[$0] < theirs[$1] }) {
                    sameMostAnomalous += 1
                }
                pooledOurs[c.target, default: Array(repeating: 0, count: ours.count)] =
                    zip(pooledOurs[c.target] ?? Array(repeating: 0, count: ours.count), ours).map { $0 + $1 / Double(seeds.count) }
                pooledSklearn[c.target, default: Array(repeating: 0, count: ours.count)] =
                    zip(pooledSklearn[c.target] ?? Array(repeating: 0, count: ours.count), theirs).map { $0 + $1 / Double(seeds.count) }
            }
        }
        let meanRho = rhos.reduce(0, +) / Double(rhos.count)
        let pooledRhos = try pooledOurs.keys.map { try XCTUnwrap(RankCorrelation.spearman(pooledOurs[$0]!, pooledSklearn[$0]!)) }
        let pooledMean = pooledRhos.reduce(0, +) / Double(pooledRhos.count)
        let selfAgreement = try XCTUnwrap(reference["sklearn_self_agreement"] as? Double)
        print(String(format: "isolation forest vs sklearn: mean Spearman ρ %.4f per seed (sklearn vs itself across seeds %.4f), "
                     + "%.4f for the 5-seed mean scores; same most anomalous scan in %d of %d (class, seed) pairs",
                     meanRho, selfAgreement, pooledMean, sameMostAnomalous, comparisons))
        XCTAssertGreaterThanOrEqual(meanRho, 0.9)
        XCTAssertGreaterThanOrEqual(pooledMean, 0.95)
        XCTAssertGreaterThan(sameMostAnomalous * 2, comparisons)
    }

    func testOutliersRejectTooFewScansAndMissingColumns() throws {
        let one = try table([["a_explanation_in_a_mass": 0.5, "a_explanation_in_b_mass": 0.5]])
        let cube = try MassCube(table: one, source: "one.csv")
        XCTAssertThrowsError(try OutlierAnalysis(reference: cube, scoredTable: one)) {
            XCTAssertEqual("\($0)", "one.csv: class \"a\" has 1 scan with a complete mass vector; the outlier model needs at least 2")
        }
        let two = try table([["a_explanation_in_a_mass": 0.5, "a_explanation_in_b_mass": 0.5],
                             ["a_explanation_in_a_mass": 0.4, "a_explanation_in_b_mass": 0.6]])
        let scored = try table([["a_explanation_in_a_mass": 0.5]])
        XCTAssertThrowsError(try OutlierAnalysis(reference: try MassCube(table: two, source: "two.csv"),
                                                 scored: try MassCube(table: scored, source: "s.csv"), scoredTable: scored)) {
            XCTAssertEqual("\($0)", "s.csv: scoring class \"a\" needs columns that are missing: \"a_explanation_in_b_mass\"")
        }
    }

    // MARK: Groups and figures

    func testDefaultGroupsAreTheOfficialMappingAndTheSampleFile() throws {
        let g = AnatomicalGroups.default
        XCTAssertEqual(g.groups.map(\.name), ["cardiovascular", "muscles", "skeleton", "other organs", "pathology"])
        XCTAssertEqual(g.colour(of: "pulmonary_vein"), RGB(hex: "#DB4437"))
        XCTAssertEqual(g.colour(of: "autochthon_left"), RGB(hex: "#F4B400"))
        XCTAssertEqual(g.colour(of: "costal_cartilages"), RGB(hex: "#4285F4"))
        XCTAssertEqual(g.colour(of: "thyroid_gland"), RGB(0x7F, 0x7F, 0x7F))
        XCTAssertEqual(g.colour(of: "consolidation"), .black)
        let (_, cube) = try officialCube()
        for name in cube.classes where name != "background" { XCTAssertNotNil(g.group(of: name), name) }
        let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("SampleData/anatomical_groups_tsv2.json")
        XCTAssertEqual(try AnatomicalGroups.load(sample.path), g)
    }

    func testGroupsFileErrorsNameTheFileAndTheProblem() throws {
        let unknownGroup = ##"{"groups": {"bone": "#4285F4"}, "classes": {"ribs": "skeleton"}}"##
        XCTAssertThrowsError(try AnatomicalGroups.parse(Data(unknownGroup.utf8), path: "g.json")) {
            XCTAssertEqual("\($0)", "g.json: class \"ribs\" names unknown group \"skeleton\"")
        }
        let g = try AnatomicalGroups.parse(Data(##"{"groups": {"bone": "#4285F4"}, "classes": {"ribs": "bone", "liver": "bone"}}"##.utf8),
                                           path: "g.json")
        XCTAssertThrowsError(try g.validate(against: ["ribs", "aorta"], path: "g.json")) {
            XCTAssertEqual("\($0)", "g.json: names classes that are not in the results: \"liver\"")
        }
        XCTAssertThrowsError(try AnatomicalGroups.parse(Data(##"{"groups": {"bone": "blue"}, "classes": {}}"##.utf8), path: "g.json")) {
            XCTAssertEqual("\($0)", "g.json: colour of group \"bone\" must be \"#rrggbb\"")
        }
    }

    func testEveryFigureIsWellFormedSVGWithItsTitle() throws {
        let (table, cube) = try officialCube()
        let matrix = MassMatrix(cube: cube)
        let outliers = try OutlierAnalysis(reference: cube, scoredTable: table, targets: ["heart", "aorta"])
        var withoutDice = ResultsTable(columns: table.columns.filter { !$0.hasSuffix("_dice") })
        for (p, row) in zip(table.patients, table.rows) {
            try withoutDice.append(patient: p, values: Dictionary(uniqueKeysWithValues: zip(table.columns, row)
                .filter { !$0.0.hasSuffix("_dice") }))
        }
        let strips = try OutlierAnalysis(reference: cube, scoredTable: withoutDice, targets: ["heart"])
        let figures: [(SVGDocument, String)] = [
            (Figures.matrix(matrix, groups: .default), "Global mean mass of explanation, 32 scans"),
            (Figures.context(try SelfMass(cube: cube), groups: .default, mark: "s0029"), "Mass of explanation inside the segmented class"),
            (Figures.dendrogram(try HierarchicalClustering(matrix: matrix, source: "o.csv"), groups: .default),
             "cophenetic correlation 0.739"),
            (Figures.outliers(outliers, groups: .default, mark: "s0802"), "Outlier score vs Dice"),
            (Figures.outliers(strips, groups: .default), "Outlier scores per explained class"),
        ]
        for (svg, title) in figures {
            let parsed = parseXML(svg.xml)
            XCTAssertNil(parsed.error, title)
            XCTAssertEqual(parsed.root, "svg", title)
            XCTAssertTrue(parsed.text.contains(title), "\(title) not in \(parsed.text.prefix(300))")
            XCTAssertTrue(parsed.text.contains("cardiovascular"), title)
        }
    }
}
