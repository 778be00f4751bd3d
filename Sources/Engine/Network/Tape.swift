import Foundation

/// A tensor buffer inside a network pass, in C order (last dimension fastest). It owns a raw
/// buffer so that it is freed the moment its last reference goes, and so that several buffers can
/// be handed to one kernel call; large buffers are recycled within a pass (`BufferPool`).
/// Convolution code reads it as [C, D, H, W]; token code as [N, C] rows.
final class FeatureMap: @unchecked Sendable {
    let shape: [Int]
    let pointer: UnsafeMutablePointer<Float>
    /// What `BufferPool.release` needs back.
    private let capacity: Int

    /// Uninitialised: every kernel writing a fresh map overwrites all of it.
    init(shape: [Int]) {
        self.shape = shape
        (pointer, capacity) = BufferPool.shared.allocate(count: shape.reduce(1, *))
    }

    /// Zero-filled.
    convenience init(zeros shape: [Int]) {
        self.init(shape: shape)
        pointer.initialize(repeating: 0, count: count)
    }

    convenience init(_ tensor: Tensor) {
        self.init(shape: tensor.shape)
        tensor.data.withUnsafeBufferPointer { pointer.initialize(from: $0.baseAddress!, count: tensor.count) }
    }

    deinit { BufferPool.shared.release(pointer, count: count, capacity: capacity) }

    var channels: Int { shape[0] }
    var spatial: [Int] { Array(shape[1...]) }
    var plane: Int { shape[1...].reduce(1, *) }
    var count: Int { shape.reduce(1, *) }
    var slab: ChannelSlab { ChannelSlab(pointer: pointer, channels: channels) }
    /// Length of the last dimension (the feature width of a token matrix).
    var width: Int { shape.last! }
    /// Number of rows when read as a [rows, width] matrix.
    var rows: Int { count / width }

    var tensor: Tensor {
        Tensor(shape: shape, data: Array(UnsafeBufferPointer(start: pointer, count: count)))
    }

    /// The same values under another shape with the same element count (a fresh buffer).
    func reshaped(_ newShape: [Int]) -> FeatureMap {
        precondition(newShape.reduce(1, *) == count, "reshape must keep the element count")
        let out = FeatureMap(shape: newShape)
        out.pointer.update(from: pointer, count: count)
        return out
    }

    /// self += other, elementwise.
    func add(_ other: FeatureMap) {
        precondition(other.count == count, "feature map sizes")
        let dst = SharedPointer(pointer), src = SharedPointer(other.pointer)
        Parallel.forEachBlock(count, minimumPerWorker: 1 << 16) { range in
            for i in range { dst[i] += src[i] }
        }
    }
}

/// A value of a network pass: a buffer and its place on the tape (`id` is −1 without a tape).
struct Var {
    let value: FeatureMap
    let id: Int
    var shape: [Int] { value.shape }
}

/// Reverse-mode record of a network pass. Each op that runs with a tape records one entry: the
/// ids of its output and inputs, and a closure mapping the output gradient to the input
/// gradients. The closure captures only what that backward needs (x̂ of a norm, the pool argmax,
/// the GELU input, …), never weight gradients; entries are dropped as the backward pass consumes
/// them, so their saved buffers are freed in reverse order of creation.
final class Tape {
    /// Maps ∂L/∂output (owned: it may be overwritten) to ∂L/∂input, one per input, in order.
    typealias Backward = (FeatureMap) -> [FeatureMap]

    private struct Entry {
        let output: Int
        let inputs: [Int]
        let backward: Backward
    }

    private var entries: [Entry] = []
    private var nextID = 0

    func newID() -> Int {
        defer { nextID += 1 }
        return nextID
    }

    func record(output: Int, inputs: [Int], backward: @escaping Backward) {
        entries.append(Entry(output: output, inputs: inputs, backward: backward))
    }

    /// Runs the recorded entries backwards from ∂L/∂`output` = `gradient` and returns ∂L/∂`input`
    /// (zero when the output does not depend on it). Gradients reaching one value from several
    /// consumers are summed. The tape is empty afterwards.
    func gradient(of output: Var, seed gradient: FeatureMap, withRespectTo input: Var) -> FeatureMap {
        var pending: [Int: FeatureMap] = [output.id: gradient]
        while let entry = entries.popLast() {
            guard let g = pending.removeValue(forKey: entry.output) else { continue }
            let inputGradients = entry.backward(g)
            precondition(inputGradients.count == entry.inputs.count, "one gradient per input")
            for (id, gi) in zip(entry.inputs, inputGradients) where id >= 0 {
                if let existing = pending[id] { existing.add(gi) } else { pending[id] = gi }
            }
        }
        return pending[input.id] ?? FeatureMap(zeros: input.shape)
    }
}

/// The context an op runs in: with a tape, ops record their backward; without one (inference)
/// they record nothing and keep nothing.
struct Graph {
    let tape: Tape?

    var recording: Bool { tape != nil }

    /// A network input.
    func input(_ value: FeatureMap) -> Var {
        Var(value: value, id: tape?.newID() ?? -1)
    }

    /// Wraps an op's output; with a tape, `backward()` is called once to build the closure, so
    /// that inference never pays for capturing saved buffers.
    func output(_ value: FeatureMap, inputs: [Var], backward: () -> Tape.Backward) -> Var {
        guard let tape else { return Var(value: value, id: -1) }
        let id = tape.newID()
        tape.record(output: id, inputs: inputs.map(\.id), backward: backward())
        return Var(value: value, id: id)
    }
}

/// A network written as a module tree over taped ops: one `run` serves inference (no tape) and
/// the gradient pass (tape), so no architecture writes its own backward.
protocol TapedNetwork: SegmentationNetwork {
    /// Logits [K, D, H, W] for one input window [Cin, D, H, W].
    func run(_ input: Var, _ graph: Graph) -> Var
}

extension TapedNetwork {
    public func forward(_ input: Tensor) -> Tensor {
        BufferPool.shared.duringPass {
            let graph = Graph(tape: nil)
            let logits = run(graph.input(FeatureMap(input)), graph).value
            BufferPool.shared.makeRoom(forBytes: logits.count * MemoryLayout<Float>.stride)
            return logits.tensor
        }
    }

    public func forward(_ input: Tensor, outputGradient: (Tensor) throws -> Tensor?) rethrows
        -> (logits: Tensor, inputGradient: Tensor?) {
        try BufferPool.shared.duringPass {
            let tape = Tape()
            let graph = Graph(tape: tape)
            let x = graph.input(FeatureMap(input))
            let y = run(x, graph)
            // The logits' copy and the caller's output gradient are allocated outside the pool.
            BufferPool.shared.makeRoom(forBytes: 2 * y.value.count * MemoryLayout<Float>.stride)
            let logits = y.value.tensor
            guard let dLogits = try outputGradient(logits) else { return (logits, nil) }
            precondition(dLogits.shape == logits.shape, "output gradient must have the logits' shape")
            let dx = tape.gradient(of: y, seed: FeatureMap(dLogits), withRespectTo: x)
            BufferPool.shared.makeRoom(forBytes: dx.count * MemoryLayout<Float>.stride)
            return (logits, dx.tensor)
        }
    }
}
