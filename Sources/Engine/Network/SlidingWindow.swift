import Foundation

/// MONAI `sliding_window_inference` window placement (sw_batch_size 1, constant blending,
/// constant zero padding):
/// - an axis shorter than the ROI is padded to the ROI size, ⌊diff/2⌋ before and the rest after;
/// - the step is ⌊roi·(1 − overlap)⌋ (at least 1), or the ROI itself when it equals the size;
/// - windows start at 0, step, 2·step, … until one reaches the end; the last start is pulled
///   back so that the window ends at the border;
/// - windows are visited with the first axis slowest; each voxel's output is the sum of its
///   window outputs divided by the number of windows covering it.
public struct SlidingWindowPlan: Sendable, Equatable {
    public let imageSize: [Int]
    public let roiSize: [Int]
    /// Padding before each axis; the padded size is max(image, roi).
    public let padBefore: [Int]
    public let paddedSize: [Int]
    /// Window starts in padded coordinates, in MONAI's visiting order.
    public let starts: [[Int]]

    public init(imageSize: [Int], roiSize: [Int], overlap: Double) {
        precondition(imageSize.count == 3 && roiSize.count == 3 && overlap >= 0 && overlap < 1)
        self.imageSize = imageSize
        self.roiSize = roiSize
        padBefore = (0..<3).map { max(roiSize[$0] - imageSize[$0], 0) / 2 }
        let padded = (0..<3).map { max(imageSize[$0], roiSize[$0]) }
        paddedSize = padded
        let axisStarts: [[Int]] = (0..<3).map { d in
            let interval = roiSize[d] == padded[d] ? roiSize[d] : max(Int(Double(roiSize[d]) * (1 - overlap)), 1)
            var out: [Int] = []
            var i = 0
            while true {
                let s = i * interval
                out.append(s - max(s + roiSize[d] - padded[d], 0))
                if s + roiSize[d] >= padded[d] { break }
                i += 1
            }
            return out
        }
        var all: [[Int]] = []
        for a in axisStarts[0] { for b in axisStarts[1] { for c in axisStarts[2] { all.append([a, b, c]) } } }
        starts = all
    }

    /// The window at `start` (padded coordinates) cut from `input` [C, D, H, W], zero outside.
    func extract(_ input: Tensor, start: [Int]) -> Tensor {
        let channels = input.shape[0]
        let (d, h, w) = (imageSize[0], imageSize[1], imageSize[2])
        let (rd, rh, rw) = (roiSize[0], roiSize[1], roiSize[2])
        var out = Tensor(zeros: [channels] + roiSize)
        let x0 = start[2] - padBefore[2]
        let lo = max(0, -x0), hi = min(rw, w - x0)
        guard lo < hi else { return out }
        input.data.withUnsafeBufferPointer { src in
            out.data.withUnsafeMutableBufferPointer { dst in
                for c in 0..<channels {
                    for z in 0..<rd {
                        let iz = start[0] - padBefore[0] + z
                        if iz < 0 || iz >= d { continue }
                        for y in 0..<rh {
                            let iy = start[1] - padBefore[1] + y
                            if iy < 0 || iy >= h { continue }
                            let s = ((c * d + iz) * h + iy) * w + x0
                            let t = ((c * rd + z) * rh + y) * rw
                            for x in lo..<hi { dst[t + x] = src[s + x] }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Adds a window tensor [C, roi] into `total` [C, image] at `start`, skipping padding.
    func accumulate(_ window: Tensor, start: [Int], into total: inout Tensor) {
        let channels = window.shape[0]
        let (d, h, w) = (imageSize[0], imageSize[1], imageSize[2])
        let (rd, rh, rw) = (roiSize[0], roiSize[1], roiSize[2])
        let x0 = start[2] - padBefore[2]
        let lo = max(0, -x0), hi = min(rw, w - x0)
        guard lo < hi else { return }
        window.data.withUnsafeBufferPointer { src in
            total.data.withUnsafeMutableBufferPointer { dst in
                for c in 0..<channels {
                    for z in 0..<rd {
                        let iz = start[0] - padBefore[0] + z
                        if iz < 0 || iz >= d { continue }
                        for y in 0..<rh {
                            let iy = start[1] - padBefore[1] + y
                            if iy < 0 || iy >= h { continue }
                            let t = ((c * d + iz) * h + iy) * w + x0
                            let s = ((c * rd + z) * rh + y) * rw
                            for x in lo..<hi { dst[t + x] += src[s + x] }
                        }
                    }
                }
            }
        }
    }

    /// Number of windows covering each voxel of the image, C order.
    var coverage: [Float] {
        var count = Tensor(zeros: [1] + imageSize)
        let ones = Tensor(shape: [1] + roiSize, data: [Float](repeating: 1, count: roiSize.reduce(1, *)))
        for s in starts { accumulate(ones, start: s, into: &count) }
        return count.data
    }
}

/// Sliding-window logits and Agg²Exp input gradients for a network.
enum SlidingWindow {
    /// Stitched logits [K, D, H, W] for `input` [Cin, D, H, W] (MONAI semantics, see the plan).
    static func logits(network: any SegmentationNetwork, input: Tensor, classCount: Int, plan: SlidingWindowPlan,
                       progress: ProgressHandler?, cancel: CancellationToken?) throws -> Tensor {
        var total = Tensor(zeros: [classCount] + plan.imageSize)
        try NetworkMemory.acrossPasses {
            for (n, start) in plan.starts.enumerated() {
                try cancel?.check()
                plan.accumulate(network.forward(plan.extract(input, start: start)), start: start, into: &total)
                progress?(Double(n + 1) / Double(plan.starts.count))
            }
        }
        let coverage = plan.coverage
        let plane = coverage.count
        for c in 0..<classCount {
            for i in 0..<plane { total.data[c * plane + i] /= coverage[i] }
        }
        return total
    }

    /// Σ over windows of ∂T_w/∂x_w added into the full input (METHOD.md §1.2): T_w = Σ_v w(v)·z_c(v)
    /// over the window's mask — its own argmax, or `target.mask` cropped to it — with weights by
    /// `target.rule`. Windows with an empty mask are skipped.
    static func targetGradient(network: any SegmentationNetwork, input: Tensor, target: SegmentTarget,
                               plan: SlidingWindowPlan, progress: ProgressHandler?,
                               cancel: CancellationToken?) throws -> Tensor {
        var total = Tensor(zeros: input.shape)
        let fixedMask: Tensor? = target.mask.map { mask in
            Tensor(shape: [1] + plan.imageSize, data: mask.map { $0 == Int32(target.classIndex) ? 1 : 0 })
        }
        try NetworkMemory.acrossPasses {
            for (n, start) in plan.starts.enumerated() {
                try cancel?.check()
                let windowMask = fixedMask.map { plan.extract($0, start: start).data }
                let (_, gradient) = network.forward(plan.extract(input, start: start)) { logits in
                    outputGradient(logits: logits, classIndex: target.classIndex, rule: target.rule, fixedMask: windowMask)
                }
                if let gradient { plan.accumulate(gradient, start: start, into: &total) }
                progress?(Double(n + 1) / Double(plan.starts.count))
            }
        }
        return total
    }

    /// ∂T/∂x for T over the stitched logits Z = (Σ_w z_w)/coverage (MONAI's constant blending):
    /// window w's output gradient is `weights`(v)/coverage(v) on channel c, padding excluded.
    /// `weights` come from `StitchedTarget.weights` on the image; nil weights give a zero gradient.
    static func stitchedTargetGradient(network: any SegmentationNetwork, input: Tensor, classIndex c: Int,
                                       classCount: Int, weights: [Float]?, plan: SlidingWindowPlan,
                                       progress: ProgressHandler?, cancel: CancellationToken?) throws -> Tensor {
        var total = Tensor(zeros: input.shape)
        guard var scaled = weights else { return total }
        let coverage = plan.coverage
        for v in scaled.indices { scaled[v] /= coverage[v] }
        let field = Tensor(shape: [1] + plan.imageSize, data: scaled)
        let plane = plan.roiSize.reduce(1, *)
        try NetworkMemory.acrossPasses {
            for (n, start) in plan.starts.enumerated() {
                try cancel?.check()
                let w = plan.extract(field, start: start)
                if w.data.contains(where: { $0 != 0 }) {
                    var seed = Tensor(zeros: [classCount] + plan.roiSize)
                    seed.data.replaceSubrange((c * plane)..<((c + 1) * plane), with: w.data)
                    let (_, gradient) = network.forward(plan.extract(input, start: start)) { _ in seed }
                    if let gradient { plan.accumulate(gradient, start: start, into: &total) }
                }
                progress?(Double(n + 1) / Double(plan.starts.count))
            }
        }
        return total
    }

    /// ∂T/∂logits for one window: zero except channel c, where it is the target weight w(v);
    /// nil when the mask is empty.
    static func outputGradient(logits: Tensor, classIndex c: Int, rule: TargetRule, fixedMask: [Float]?) -> Tensor? {
        let classes = logits.shape[0], plane = logits.count / classes
        var weights = [Float](repeating: 0, count: plane)
        if let fixedMask {
            weights = fixedMask
        } else {
            logits.data.withUnsafeBufferPointer { z in
                for v in 0..<plane {
                    // First maximum wins, as torch.argmax.
                    var best = 0
                    for k in 1..<classes where z[k * plane + v] > z[best * plane + v] { best = k }
                    if best == c { weights[v] = 1 }
                }
            }
        }
        let size = weights.reduce(0, +)
        guard size > 0 else { return nil }
        switch rule {
        case .sum:
            break
        case .mean:
            for v in 0..<plane { weights[v] /= size }
        case .probWeighted:
            let p = ChannelOps.softmax(logits)
            var norm: Double = 0
            for v in 0..<plane where weights[v] > 0 {
                weights[v] = p.data[c * plane + v]
                norm += Double(weights[v])
            }
            for v in 0..<plane { weights[v] = Float(Double(weights[v]) / norm) }
        }
        var g = Tensor(zeros: logits.shape)
        g.data.replaceSubrange((c * plane)..<((c + 1) * plane), with: weights)
        return g
    }
}
