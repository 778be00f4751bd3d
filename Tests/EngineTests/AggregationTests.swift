import Engine
import Foundation
import XCTest

final class AggregationTests: XCTestCase {
    let names: (Int32) -> String = { ["background", "aorta", "lung", "heart"][Int($0)] }

    func testMassAndMeanPerSegmentWithEachProcessing() throws {
        let a: [Float] = [1, -2, 3, -4, 0, 2]
        let s: [Int32] = [0, 0, 1, 1, 2, 2]
        let abs = try Aggregation.scores(attribution: a, segments: s, processing: .abs, names: names)
        XCTAssertEqual(abs.map(\.label), [0, 1, 2])
        XCTAssertEqual(abs.map(\.voxels), [2, 2, 2])
        XCTAssertEqual(abs.map(\.name), ["background", "aorta", "lung"])
        XCTAssertEqual(abs.map { $0.mass! }, [3.0 / 12, 7.0 / 12, 2.0 / 12])
        XCTAssertEqual(abs.map { $0.mean! }, [1.5, 3.5, 1])
        let pos = try Aggregation.scores(attribution: a, segments: s, processing: .pos, names: names)
        XCTAssertEqual(pos.map { $0.mass! }, [1.0 / 6, 3.0 / 6, 2.0 / 6])
        let neg = try Aggregation.scores(attribution: a, segments: s, processing: .neg, names: names)
        XCTAssertEqual(neg.map { $0.mass! }, [2.0 / 6, 4.0 / 6, 0])
        XCTAssertEqual(neg.map { $0.mean! }, [1, 2, 0])
        XCTAssertEqual(abs.reduce(0) { $0 + $1.mass! }, 1, accuracy: 1e-15)
    }

    func testEmptySegmentAndZeroMapAreUndefinedNotCrashes() throws {
        let s: [Int32] = [0, 0, 1]
        let r = try Aggregation.scores(attribution: [1, 1, 2], segments: s, processing: .abs,
                                       labels: [0, 1, 3], names: names)
        XCTAssertEqual(r[2], SegmentScore(label: 3, name: "heart", voxels: 0, mass: 0, mean: nil))
        let zero = try Aggregation.scores(attribution: [0, 0, 0], segments: s, processing: .abs, names: names)
        XCTAssertEqual(zero.map(\.mass), [nil, nil])
        XCTAssertEqual(zero.map(\.mean), [0, 0])
        XCTAssertThrowsError(try Aggregation.scores(attribution: [1], segments: s, processing: .abs, names: names)) {
            XCTAssertEqual($0 as? AggregationError, .sizeMismatch(attribution: 1, segments: 3))
        }
    }

    func testJoinedGroupsAndSparseLabelsMatchSingleLabelSums() throws {
        let a: [Float] = [1, 2, 3, 4, 5, 6]
        let s: [Int32] = [0, 2, 3, 4, 100_000, 3]
        let groups = [RoIGroup(name: "lung", labels: [2, 3, 4]), RoIGroup(name: "far", labels: [100_000])]
        let r = try Aggregation.scores(attribution: a, segments: s, processing: .abs, groups: groups)
        XCTAssertEqual(r[0].voxels, 4)
        XCTAssertEqual(r[0].mass!, 15.0 / 21, accuracy: 1e-15)
        XCTAssertEqual(r[0].mean!, 15.0 / 4, accuracy: 1e-15)
        XCTAssertEqual(r[1].mass!, 5.0 / 21, accuracy: 1e-15)
        let singles = try Aggregation.scores(attribution: a, segments: s, processing: .abs, names: { "\($0)" })
        XCTAssertEqual(singles.map(\.label), [0, 2, 3, 4, 100_000])
    }

    func testGroupsParseFromJSONWithNamesAndNumbers() throws {
        let json = Data(#"{"lung": ["lung", 3], "b": [1]}"#.utf8)
        let groups = try RoIGroup.parse(json: json, source: "g.json") { $0 == "lung" ? 2 : nil }
        XCTAssertEqual(groups, [RoIGroup(name: "b", labels: [1]), RoIGroup(name: "lung", labels: [2, 3])])
        XCTAssertThrowsError(try RoIGroup.parse(json: Data(#"{"x": ["nope"]}"#.utf8), source: "g.json") { _ in nil }) {
            XCTAssertEqual("\($0)", "g.json: group \"x\": unknown label name \"nope\"")
        }
        XCTAssertThrowsError(try RoIGroup.parse(json: Data("[1]".utf8), source: "g.json") { _ in nil })
    }

    func testRankingAndSignedStatistics() throws {
        let scores = [SegmentScore(label: 0, name: "a", voxels: 1, mass: 0.2, mean: 1),
                      SegmentScore(label: 1, name: "b", voxels: 0, mass: nil, mean: nil),
                      SegmentScore(label: 2, name: "c", voxels: 1, mass: 0.7, mean: 1)]
        XCTAssertEqual(Aggregation.ranked(scores).map(\.label), [2, 0, 1])
        let stats = Aggregation.signedStatistics([1, -1, 2, 2])!
        XCTAssertEqual(stats.mean, 1)
        XCTAssertEqual(stats.variance, 1.5) // population variance: (0 + 4 + 1 + 1) / 4
    }
}

final class AggregationShardTests: XCTestCase {
    func testShardsPartitionTheListInOrder() throws {
        let items = Array(0..<7)
        let parts = (0..<3).map { Shard(index: $0, count: 3).select(items) }
        XCTAssertEqual(parts, [[0, 1], [2, 3], [4, 5, 6]])
        XCTAssertEqual(Shard(index: 3, count: 4).select([1]), [1])
        XCTAssertEqual(Shard(index: 0, count: 4).select([1]), [])
        XCTAssertEqual(try Shard(argument: "1/2"), Shard(index: 1, count: 2))
        for bad in ["2/2", "-1/2", "1", "a/b", "1/0", "1/2/3", ""] {
            XCTAssertThrowsError(try Shard(argument: bad)) {
                XCTAssertEqual("\($0)", "--shard: \"\(bad)\" is not a shard; expected I/N with 0 ≤ I < N ≤ 1000000 (e.g. 0/4)")
            }
        }
    }

    func testSlurmArrayEnvironment() throws {
        XCTAssertNil(try Shard.fromEnvironment([:]))
        XCTAssertEqual(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"]),
                       Shard(index: 3, count: 4))
        XCTAssertEqual(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4",
                                                  "SLURM_ARRAY_TASK_MIN": "2"]), Shard(index: 3, count: 4))
        XCTAssertThrowsError(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4"]))
    }
}
