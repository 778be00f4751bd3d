/// A dense Float32 tensor in C order (last dimension fastest), as PyTorch lays it out.
///
/// Network code uses shape [C, D, H, W] for one sample (batch size 1). A `Volume` is stored in
/// NIfTI order (i fastest), so `Tensor(volume:)` transposes it to [1, I, J, K] with K fastest,
/// which is exactly the tensor MONAI builds from the same NIfTI file.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "data count must equal the product of the shape")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    public var count: Int { data.count }

    /// Builds a one-channel [1, I, J, K] tensor from a volume (NIfTI order → C order).
    public init(volume: Volume) {
        let (ni, nj, nk) = (volume.grid.dims[0], volume.grid.dims[1], volume.grid.dims[2])
        var out = [Float](repeating: 0, count: ni * nj * nk)
        volume.voxels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for k in 0..<nk {
                    for j in 0..<nj {
                        let srcRow = ni * (j + nj * k)
                        for i in 0..<ni { dst[(i * nj + j) * nk + k] = src[srcRow + i] }
                    }
                }
            }
        }
        self.init(shape: [1, ni, nj, nk], data: out)
    }

    /// Channel `c` of a [C, I, J, K] tensor as a volume on `grid` (C order → NIfTI order).
    public func volume(channel c: Int, grid: Grid) -> Volume {
        precondition(shape.count == 4 && Array(shape[1...]) == grid.dims, "tensor and grid disagree")
        let (ni, nj, nk) = (shape[1], shape[2], shape[3])
        let base = c * ni * nj * nk
        var out = [Float](repeating: 0, count: ni * nj * nk)
        data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<ni {
                    for j in 0..<nj {
                        let srcRow = base + (i * nj + j) * nk
                        for k in 0..<nk { dst[i + ni * (j + nj * k)] = src[srcRow + k] }
                    }
                }
            }
        }
        return Volume(grid: grid, voxels: out)
    }
}
