import Foundation

/// An nnU-Net pipeline as attribution methods see it. Inputs are network-grid tensors
/// [1, S0, S1, S2] (`NNUNetInput.tensor`): permuted, cropped and normalised, not padded.
///
/// `logits` blends the tiles as nnU-Net does — centred zero padding to the patch, its tile
/// starts, Gaussian weights g (the float16 values nnU-Net uses), Σ g·z / Σ g, mirrored passes
/// averaged when mirroring is on — but accumulates in float32, so that T and its gradient are
/// the same function. (`NNUNetPipeline.networkLabels` keeps nnU-Net's float16 accumulation for
/// the label map.)
public struct NNUNetModel: ExplainableModel {
    public let pipeline: NNUNetPipeline
    /// What `targetGradient` differentiates; the stitched target by default, since nnU-Net's
    /// output is the Gaussian blend.
    public var windowTarget: WindowTarget

    public init(pipeline: NNUNetPipeline, windowTarget: WindowTarget = .stitched) {
        self.pipeline = pipeline
        self.windowTarget = windowTarget
    }

    public var classes: [String] { pipeline.folder.classes }
    public var classCount: Int { pipeline.folder.classes.count }

    /// The tiles of a network-grid input of `shape`.
    public func tiling(_ shape: [Int]) -> NNUNetTiling {
        NNUNetTiling(shape: shape, patch: pipeline.folder.patchSize, step: pipeline.tileStep)
    }

    public func logits(_ input: Tensor, progress: ProgressHandler?, cancel: CancellationToken?) throws -> Tensor {
        let tiles = tiling(Array(input.shape[1...]))
        let padded = tiles.pad(input)
        var sum = Tensor(zeros: [classCount] + tiles.padded)
        try NetworkMemory.acrossPasses {
            for (n, start) in tiles.starts.enumerated() {
                try cancel?.check()
                let z = pipeline.predict(tiles.extract(padded, start: start))
                tiles.accumulate(z, start: start, weights: tiles.gaussian, into: &sum)
                progress?(Double(n + 1) / Double(tiles.starts.count))
            }
        }
        let plane = tiles.count.count
        for k in 0..<classCount {
            for v in 0..<plane { sum.data[k * plane + v] /= tiles.count[v] }
        }
        return tiles.crop(sum)
    }

    public func targetGradient(_ input: Tensor, target: SegmentTarget, progress: ProgressHandler?,
                               cancel: CancellationToken?) throws -> Tensor {
        precondition((0..<classCount).contains(target.classIndex), "target class out of range")
        let tiles = tiling(Array(input.shape[1...]))
        let padded = tiles.pad(input)
        let c = target.classIndex
        var total = Tensor(zeros: [1] + tiles.padded)
        let patchPlane = tiles.patch.reduce(1, *)
        // The tiles are passes in a row: each reuses the maps the one before freed.
        return try NetworkMemory.acrossPasses { () throws -> Tensor in
            switch windowTarget {
            case .stitched:
                var stitched: Tensor?
                func logits() throws -> Tensor {
                    if let stitched { return stitched }
                    let z = try self.logits(input, progress: nil, cancel: cancel)
                    stitched = z
                    return z
                }
                let mask = try target.mask ?? TargetFunction.argmax(try logits())
                guard let weights = try StitchedTarget.weights(mask: mask, classIndex: c, rule: target.rule, logits: logits)
                else { return Tensor(zeros: input.shape) }
                // ∂T/∂z_t(v) = w(v)·g_t(v)/Σ g(v): w/Σg on the padded grid (0 in the padding), times g per tile.
                var field = tiles.pad(Tensor(shape: [1] + tiles.shape, data: weights))
                for v in field.data.indices { field.data[v] /= tiles.count[v] }
                for (n, start) in tiles.starts.enumerated() {
                    try cancel?.check()
                    let w = tiles.extract(field, start: start)
                    if w.data.contains(where: { $0 != 0 }) {
                        var seed = Tensor(zeros: [classCount] + tiles.patch)
                        for v in 0..<patchPlane { seed.data[c * patchPlane + v] = w.data[v] * tiles.gaussian[v] }
                        tiles.accumulate(tileGradient(tiles.extract(padded, start: start), seed: seed), start: start,
                                         weights: nil, into: &total)
                    }
                    progress?(Double(n + 1) / Double(tiles.starts.count))
                }
            case .perWindow:
                // Each tile's own target (its argmax, or the fixed mask cut to it; padding is outside
                // the mask), unweighted, as the official code sums window gradients.
                let fixed = target.mask.map { mask in
                    tiles.pad(Tensor(shape: [1] + tiles.shape, data: mask.map { $0 == Int32(c) ? 1 : 0 }))
                }
                for (n, start) in tiles.starts.enumerated() {
                    try cancel?.check()
                    let tile = tiles.extract(padded, start: start)
                    let windowMask = fixed.map { tiles.extract($0, start: start).data }
                    let gradient: Tensor?
                    if pipeline.mirrorAxes.isEmpty {
                        gradient = pipeline.network.forward(tile) { z in
                            SlidingWindow.outputGradient(logits: z, classIndex: c, rule: target.rule, fixedMask: windowMask)
                        }.inputGradient
                    } else {
                        gradient = SlidingWindow.outputGradient(logits: pipeline.predict(tile), classIndex: c,
                                                                rule: target.rule, fixedMask: windowMask)
                            .map { tileGradient(tile, seed: $0) }
                    }
                    if let gradient { tiles.accumulate(gradient, start: start, weights: nil, into: &total) }
                    progress?(Double(n + 1) / Double(tiles.starts.count))
                }
            }
            return tiles.crop(total)
        }
    }

    /// ∂⟨seed, predict(tile)⟩/∂tile, through every mirrored pass when mirroring is on.
    func tileGradient(_ tile: Tensor, seed: Tensor) -> Tensor {
        let axes = pipeline.mirrorAxes
        let subsets = [[]] + (axes.isEmpty ? [] : NNUNetPipeline.mirrorCombinations(axes))
        let scale = 1 / Float(subsets.count)
        var total = Tensor(zeros: tile.shape)
        for flip in subsets {
            var s = flip.isEmpty ? seed : NNUNetPipeline.flip(seed, axes: flip)
            if subsets.count > 1 { for i in s.data.indices { s.data[i] *= scale } }
            let x = flip.isEmpty ? tile : NNUNetPipeline.flip(tile, axes: flip)
            guard let g = pipeline.network.forward(x, outputGradient: { _ in s }).inputGradient else { continue }
            let back = flip.isEmpty ? g : NNUNetPipeline.flip(g, axes: flip)
            for i in total.data.indices { total.data[i] += back.data[i] }
        }
        return total
    }
}

/// nnU-Net's tiles over a network-grid input: centred zero padding to at least the patch
/// (`below = diff // 2`), tile starts by `compute_steps_for_sliding_window`, and the float16
/// Gaussian (as float32) with its per-voxel sum over the tiles.
public struct NNUNetTiling: Sendable {
    public let shape: [Int]
    public let patch: [Int]
    public let padded: [Int]
    public let below: [Int]
    /// Tile starts in the padded grid, first axis slowest.
    public let starts: [[Int]]
    /// Gaussian importance weights of one tile, C order.
    public let gaussian: [Float]
    /// Σ over tiles of the Gaussian at each padded voxel.
    public let count: [Float]

    public init(shape: [Int], patch: [Int], step: Double) {
        self.shape = shape
        self.patch = patch
        padded = zip(shape, patch).map { max($0, $1) }
        below = zip(padded, shape).map { ($0 - $1) / 2 }
        let axis = (0..<3).map { [padded] d in NNUNetPipeline.tileStarts(size: padded[d], patch: patch[d], step: step) }
        starts = axis[0].flatMap { a in axis[1].flatMap { b in axis[2].map { c in [a, b, c] } } }
        gaussian = NNUNetPipeline.gaussian(patch).map(Float.init)
        var sum = [Float](repeating: 0, count: padded.reduce(1, *))
        let (p1, p2, q1, q2) = (patch[1], patch[2], padded[1], padded[2])
        for s in starts {
            for a in 0..<patch[0] { for b in 0..<p1 {
                let dst = ((a + s[0]) * q1 + b + s[1]) * q2 + s[2], src = (a * p1 + b) * p2
                for c in 0..<p2 { sum[dst + c] += gaussian[src + c] }
            }}
        }
        count = sum
    }

    /// [C, shape] → [C, padded], zeros around.
    func pad(_ x: Tensor) -> Tensor {
        let channels = x.shape[0]
        var out = Tensor(zeros: [channels] + padded)
        let (n, m) = (shape.reduce(1, *), padded.reduce(1, *))
        for ch in 0..<channels {
            for a in 0..<shape[0] { for b in 0..<shape[1] {
                let src = ch * n + (a * shape[1] + b) * shape[2]
                let dst = ch * m + ((a + below[0]) * padded[1] + b + below[1]) * padded[2] + below[2]
                for c in 0..<shape[2] { out.data[dst + c] = x.data[src + c] }
            }}
        }
        return out
    }

    /// [C, padded] → [C, shape], the padding dropped.
    func crop(_ x: Tensor) -> Tensor {
        let channels = x.shape[0]
        var out = Tensor(zeros: [channels] + shape)
        let (n, m) = (shape.reduce(1, *), padded.reduce(1, *))
        for ch in 0..<channels {
            for a in 0..<shape[0] { for b in 0..<shape[1] {
                let dst = ch * n + (a * shape[1] + b) * shape[2]
                let src = ch * m + ((a + below[0]) * padded[1] + b + below[1]) * padded[2] + below[2]
                for c in 0..<shape[2] { out.data[dst + c] = x.data[src + c] }
            }}
        }
        return out
    }

    /// The tile at `start` of a [C, padded] tensor.
    func extract(_ x: Tensor, start s: [Int]) -> Tensor {
        let channels = x.shape[0]
        var out = Tensor(zeros: [channels] + patch)
        let (n, m) = (patch.reduce(1, *), padded.reduce(1, *))
        for ch in 0..<channels {
            for a in 0..<patch[0] { for b in 0..<patch[1] {
                let src = ch * m + ((a + s[0]) * padded[1] + b + s[1]) * padded[2] + s[2]
                let dst = ch * n + (a * patch[1] + b) * patch[2]
                for c in 0..<patch[2] { out.data[dst + c] = x.data[src + c] }
            }}
        }
        return out
    }

    /// Adds a [C, patch] tile, times `weights` per voxel when given, into [C, padded] at `start`.
    func accumulate(_ tile: Tensor, start s: [Int], weights: [Float]?, into total: inout Tensor) {
        let channels = tile.shape[0]
        let (n, m) = (patch.reduce(1, *), padded.reduce(1, *))
        for ch in 0..<channels {
            for a in 0..<patch[0] { for b in 0..<patch[1] {
                let dst = ch * m + ((a + s[0]) * padded[1] + b + s[1]) * padded[2] + s[2]
                let src = (a * patch[1] + b) * patch[2]
                if let weights {
                    for c in 0..<patch[2] { total.data[dst + c] += tile.data[ch * n + src + c] * weights[src + c] }
                } else {
                    for c in 0..<patch[2] { total.data[dst + c] += tile.data[ch * n + src + c] }
                }
            }}
        }
    }
}
