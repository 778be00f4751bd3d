import Foundation
import XCTest
import Engine
import Explorer

/// Tiny synthetic scans and a fake analysis provider, so the explorer is tested without a model.
enum Fixtures {
    /// 12 × 10 × 8 voxels, anisotropic (2 × 2 × 3 mm), RAS. CT rises with i, a bright "bone" column
    /// at i = 9; label 1 is a box on the patient's right-anterior side, label 2 a box on the left.
    static func scene(affine: Affine = .scaling([2, 2, 3], origin: [-12, -10, -12])) -> Scene {
        let grid = Grid(dims: [12, 10, 8], affine: affine)
        var ct = Volume(grid: grid, voxels: [Float](repeating: 0, count: grid.voxelCount))
        var labels = LabelMap(grid: grid, labels: [Int32](repeating: 0, count: grid.voxelCount))
        for k in 0..<8 {
            for j in 0..<10 {
                for i in 0..<12 {
                    ct[i, j, k] = i == 9 ? 1000 : Float(-160 + 40 * i)
                    if (1...4).contains(i), (5...8).contains(j), (2...5).contains(k) { labels[i, j, k] = 1 }
                    if (7...10).contains(i), (1...3).contains(j), (1...6).contains(k) { labels[i, j, k] = 2 }
                }
            }
        }
        return Scene(scanPath: "/data/s0042_ct.nii.gz", ct: ct, labels: labels, labelSource: "file seg.nii.gz",
                     labelNames: [0: "background", 1: "liver", 2: "spleen"])
    }

    /// Attribution for `target`: positive inside the target box, a negative blob in the other
    /// box, zero elsewhere except a faint ramp.
    static func attribution(for scene: Scene, target: Int) -> Volume {
        let labels = scene.labels!
        var map = Volume(grid: scene.ct.grid, voxels: [Float](repeating: 0, count: scene.ct.grid.voxelCount))
        let d = map.grid.dims
        for k in 0..<d[2] {
            for j in 0..<d[1] {
                for i in 0..<d[0] {
                    let l = Int(labels[i, j, k])
                    if l == target { map[i, j, k] = Float(1 + i) * 0.1 }
                    else if l != 0 { map[i, j, k] = -0.05 * Float(1 + j) }
                    else { map[i, j, k] = 0.001 * Float(i) }
                }
            }
        }
        return map
    }

    static func explorer(width: Int = 120, height: Int = 36, caps: RenderCapabilities = .full,
                         withAttribution: Bool = true) -> Explorer {
        let scene = Self.scene()
        var ex = Explorer(scene: scene, capabilities: caps, width: width, height: height,
                          methods: ["gradient", "integrated-gradients"], classNames: ["background", "liver", "spleen"],
                          modelDescription: "fake model (3 classes)")
        if withAttribution {
            let a = AttributionDisplay(map: attribution(for: scene, target: 1), details: [("steps", "20")])
            ex.attribution = a
            ex.rows = FakeProvider.ranking(a.map, scene.labels!, .abs, scene.labelNames)
        }
        return ex
    }

    /// A started session on a FakeProvider whose jobs block until released, showing gradient →
    /// liver from the controller's cache: what the matrix and compare tests open their views on.
    static func blockingSessionShowingLiver() -> (ExplorerSession, AnalysisController, FakeProvider) {
        let scene = Self.scene()
        let provider = FakeProvider(scene: scene, blocking: true)
        let controller = AnalysisController(provider: provider)
        controller.preload(AnalysisKey(method: "gradient", target: 1),
                           AttributionDisplay(map: attribution(for: scene, target: 1)))
        var ex = explorer(withAttribution: false)
        ex.scene = scene
        let session = ExplorerSession(explorer: ex, controller: controller)
        session.start()
        return (session, controller, provider)
    }
}

/// A provider whose work is instant, or blocks until released (to test progress and cancel).
final class FakeProvider: AnalysisProvider, @unchecked Sendable {
    let methods = ["gradient", "integrated-gradients"]
    let classNames = ["background", "liver", "spleen"]
    let modelDescription = "fake model (3 classes)"
    let scene: Scene
    private let lock = NSLock()
    private var calls: [AnalysisKey] = []
    /// When set, `attribute` reports progress and waits until `release()` or cancellation.
    let blocking: Bool
    private var released = false

    init(scene: Scene, blocking: Bool = false) {
        self.scene = scene
        self.blocking = blocking
    }

    var attributeCalls: [AnalysisKey] { lock.withLock { calls } }

    /// Lets every waiting and future `attribute` call finish.
    func release() { lock.withLock { released = true } }

    func predict(progress: @escaping ProgressHandler, cancel: CancellationToken) throws -> LabelMap {
        progress(1)
        return scene.labels!
    }

    func attribute(method: String, target: Int, progress: @escaping ProgressHandler,
                   cancel: CancellationToken) throws -> AttributionDisplay {
        lock.withLock { calls.append(AnalysisKey(method: method, target: target)) }
        if blocking {
            progress(0.5)
            while !lock.withLock({ released }) {
                try cancel.check()
                usleep(2000)
            }
        }
        try cancel.check()
        progress(1)
        return AttributionDisplay(map: Fixtures.attribution(for: scene, target: target), details: [("method", method)])
    }

    func rank(attribution: Volume, segments: LabelMap, processing: AttributionProcessing, names: [Int32: String]) -> [SegmentScore] {
        Self.ranking(attribution, segments, processing, names)
    }

    /// Agg²Exp mass and mean (METHOD.md §1.5), written out plainly as the test oracle.
    static func ranking(_ a: Volume, _ s: LabelMap, _ p: AttributionProcessing, _ names: [Int32: String]) -> [SegmentScore] {
        var sum: [Int32: Double] = [:], count: [Int32: Int] = [:]
        var total = 0.0
        for (v, l) in zip(a.voxels, s.labels) {
            let x = p.apply(v)
            sum[l, default: 0] += x
            count[l, default: 0] += 1
            total += x
        }
        return count.keys.sorted().map { l in
            SegmentScore(label: l, name: names[l] ?? "label \(l)", voxels: count[l]!,
                         mass: total > 0 ? sum[l]! / total : nil, mean: sum[l]! / Double(count[l]!))
        }
    }
}
