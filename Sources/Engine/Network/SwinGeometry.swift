import Foundation

/// The token bookkeeping of MONAI's Swin stages (ARCHITECTURES.md §1.4): window clamping,
/// zero padding, cyclic shift, window partition and reverse, the shift mask's regions, the
/// relative-position index and the patch-merging gather. Each is built as a `RowGather` index map
/// over channels-last tokens [D·H·W, C] (D slowest); the literal tensor versions below are their
/// naive twins.
public enum SwinGeometry {
    /// MONAI `get_window_size`: per axis, a dimension no longer than the window (`<=`) takes the
    /// whole axis as its window and no shift.
    public static func clamped(dims: [Int], window: [Int], shift: [Int]) -> (window: [Int], shift: [Int]) {
        ((0..<3).map { dims[$0] <= window[$0] ? dims[$0] : window[$0] },
         (0..<3).map { dims[$0] <= window[$0] ? 0 : shift[$0] })
    }

    /// Padded size: each axis rounded up to a multiple of the window.
    public static func padded(dims: [Int], window: [Int]) -> [Int] {
        (0..<3).map { (dims[$0] + window[$0] - 1) / window[$0] * window[$0] }
    }

    /// Window index and token index (D-major) of padded position p.
    private static func slot(_ p: [Int], padded: [Int], window: [Int]) -> Int {
        let counts = (0..<3).map { padded[$0] / window[$0] }
        let w = ((p[0] / window[0]) * counts[1] + p[1] / window[1]) * counts[2] + p[2] / window[2]
        let t = ((p[0] % window[0]) * window[1] + p[1] % window[1]) * window[2] + p[2] % window[2]
        return w * window.reduce(1, *) + t
    }

    /// Zero-pad to the padded grid, roll by −shift, partition into windows: output row
    /// window·n + token reads token (p + shift) mod P of the original grid, or zero in the padding.
    public static func partition(dims: [Int], window: [Int], shift: [Int]) -> RowGather {
        let pad = padded(dims: dims, window: window)
        var index = [Int32](repeating: -1, count: pad.reduce(1, *))
        for a in 0..<pad[0] {
            for b in 0..<pad[1] {
                for c in 0..<pad[2] {
                    let src = [(a + shift[0]) % pad[0], (b + shift[1]) % pad[1], (c + shift[2]) % pad[2]]
                    guard src[0] < dims[0], src[1] < dims[1], src[2] < dims[2] else { continue }
                    index[slot([a, b, c], padded: pad, window: window)] = Int32((src[0] * dims[1] + src[1]) * dims[2] + src[2])
                }
            }
        }
        return RowGather(index: index, inputRows: dims.reduce(1, *))
    }

    /// The inverse of `partition` on the real tokens: window reverse, roll by +shift, crop.
    public static func reverse(dims: [Int], window: [Int], shift: [Int]) -> RowGather {
        let pad = padded(dims: dims, window: window)
        var index = [Int32](repeating: 0, count: dims.reduce(1, *))
        for a in 0..<dims[0] {
            for b in 0..<dims[1] {
                for c in 0..<dims[2] {
                    let rolled = [(a - shift[0] + pad[0]) % pad[0], (b - shift[1] + pad[1]) % pad[1],
                                  (c - shift[2] + pad[2]) % pad[2]]
                    index[(a * dims[1] + b) * dims[2] + c] = Int32(slot(rolled, padded: pad, window: window))
                }
            }
        }
        return RowGather(index: index, inputRows: pad.reduce(1, *))
    }

    /// MONAI `compute_mask` regions, [windows, n] in partition order: per axis of padded length
    /// P, region 0 below P − w, 1 below P − s, 2 from P − s on; with s = 0 the whole axis is
    /// region 2 (the third slice `slice(-0, None)` is written last). Label = 9·r_d + 3·r_h + r_w.
    public static func regions(dims: [Int], window: [Int], shift: [Int]) -> [Int32] {
        let pad = padded(dims: dims, window: window)
        func region(_ i: Int, _ axis: Int) -> Int {
            let (p, w, s) = (pad[axis], window[axis], shift[axis])
            if s == 0 { return 2 }
            return i < p - w ? 0 : (i < p - s ? 1 : 2)
        }
        var labels = [Int32](repeating: 0, count: pad.reduce(1, *))
        for a in 0..<pad[0] {
            for b in 0..<pad[1] {
                for c in 0..<pad[2] {
                    labels[slot([a, b, c], padded: pad, window: window)] =
                        Int32(9 * region(a, 0) + 3 * region(b, 1) + region(c, 2))
                }
            }
        }
        return labels
    }

    /// MONAI's `relative_position_index` for the configured window [W³, W³]:
    /// (Δd + W_d − 1)·(2W_h − 1)(2W_w − 1) + (Δh + W_h − 1)·(2W_w − 1) + (Δw + W_w − 1).
    public static func relativePositionIndex(window: [Int]) -> [Int] {
        let n = window.reduce(1, *)
        let coords = (0..<n).map { t in [t / (window[1] * window[2]), (t / window[2]) % window[1], t % window[2]] }
        var index = [Int](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                let d = (0..<3).map { coords[i][$0] - coords[j][$0] + window[$0] - 1 }
                index[i * n + j] = d[0] * (2 * window[1] - 1) * (2 * window[2] - 1) + d[1] * (2 * window[2] - 1) + d[2]
            }
        }
        return index
    }

    /// Bias [heads, n, n] for a window of n tokens from `table` [T, heads]: MONAI slices
    /// `index[:n, :n]` of the configured window's index, so a clamped window's token t is read
    /// as if it had the configured window's coordinates of t.
    public static func bias(table: [Float], heads: Int, index: [Int], configuredTokens: Int, tokens n: Int) -> [Float] {
        var out = [Float](repeating: 0, count: heads * n * n)
        for i in 0..<n {
            for j in 0..<n {
                let row = index[i * configuredTokens + j]
                for h in 0..<heads { out[(h * n + i) * n + j] = table[row * heads + h] }
            }
        }
        return out
    }

    /// Sub-voxel offsets (D, H, W) of the eight patch-merging slots.
    public enum MergeOrder: String, Sendable, CaseIterable {
        /// `downsample="merging"` in MONAI ≥ 1.5.
        case merging
        /// `downsample="merging"` in MONAI ≤ 1.4 (slots 2 = 5 and 3 = 6; two sub-grids never read).
        case mergingLegacy
        /// `downsample="mergingv2"` (itertools.product order), all versions.
        case mergingV2

        public var slots: [[Int]] {
            switch self {
            case .merging: [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]]
            case .mergingLegacy: [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 0], [0, 0, 1], [1, 1, 1]]
            case .mergingV2: [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1], [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1]]
            }
        }
    }

    /// Output grid of patch merging: ⌈d/2⌉ per axis (odd axes are zero-padded by one).
    public static func mergedDims(_ dims: [Int]) -> [Int] { dims.map { ($0 + 1) / 2 } }

    /// Patch merging space-to-depth: output token t, slot s reads x[2i + a, 2j + b, 2k + c] for
    /// slot offsets (a, b, c), zero past an odd edge. Gathered as rows t·8 + s, read as [T, 8C].
    public static func merging(dims: [Int], order: MergeOrder) -> RowGather {
        let out = mergedDims(dims)
        let slots = order.slots
        var index = [Int32](repeating: -1, count: out.reduce(1, *) * 8)
        for i in 0..<out[0] {
            for j in 0..<out[1] {
                for k in 0..<out[2] {
                    let t = (i * out[1] + j) * out[2] + k
                    for (s, o) in slots.enumerated() {
                        let (a, b, c) = (2 * i + o[0], 2 * j + o[1], 2 * k + o[2])
                        guard a < dims[0], b < dims[1], c < dims[2] else { continue }
                        index[t * 8 + s] = Int32((a * dims[1] + b) * dims[2] + c)
                    }
                }
            }
        }
        return RowGather(index: index, inputRows: dims.reduce(1, *))
    }

    // MARK: Naive twins on [D, H, W, C] tensors

    /// `F.pad` with zeros at the end of D, H, W up to `size`.
    public static func padNaive(_ x: Tensor, to size: [Int]) -> Tensor {
        let (d, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var y = Tensor(zeros: size + [c])
        for a in 0..<d { for b in 0..<h { for e in 0..<w { for ch in 0..<c {
            y.data[((a * size[1] + b) * size[2] + e) * c + ch] = x.data[((a * h + b) * w + e) * c + ch]
        } } } }
        return y
    }

    /// `torch.roll(x, shifts=shift, dims=(0, 1, 2))`: out[i] = in[(i − shift) mod P].
    public static func rollNaive(_ x: Tensor, by shift: [Int]) -> Tensor {
        let (d, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var y = x
        for a in 0..<d { for b in 0..<h { for e in 0..<w {
            let s = [((a - shift[0]) % d + d) % d, ((b - shift[1]) % h + h) % h, ((e - shift[2]) % w + w) % w]
            for ch in 0..<c { y.data[((a * h + b) * w + e) * c + ch] = x.data[((s[0] * h + s[1]) * w + s[2]) * c + ch] }
        } } }
        return y
    }

    /// MONAI `window_partition`: [D, H, W, C] → [windows·n, C], windows D-major, tokens D-major.
    public static func partitionNaive(_ x: Tensor, window: [Int]) -> Tensor {
        let (d, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var y = Tensor(zeros: [d * h * w, c])
        var row = 0
        for wd in stride(from: 0, to: d, by: window[0]) { for wh in stride(from: 0, to: h, by: window[1]) {
            for ww in stride(from: 0, to: w, by: window[2]) {
                for a in 0..<window[0] { for b in 0..<window[1] { for e in 0..<window[2] {
                    for ch in 0..<c { y.data[row * c + ch] = x.data[(((wd + a) * h + wh + b) * w + ww + e) * c + ch] }
                    row += 1
                } } }
            }
        } }
        return y
    }
}
