import Engine
import Foundation

func now() -> Double { Date().timeIntervalSinceReferenceDate }
var rng = SystemRandomNumberGenerator()
for (cin, cout, d) in [(16, 16, 128), (32, 16, 128), (16, 16, 64)] {
    let shape = [cin, d, 112, 112]
    let x = Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
    let w = (0..<(cin * cout * 27)).map { _ in Float.random(in: -0.1...0.1, using: &rng) }
    let conv = Conv3d(inChannels: cin, outChannels: cout, geometry: ConvGeometry(kernel: [3, 3, 3], padding: [1, 1, 1]), weight: w, bias: nil)
    for _ in 0..<2 {
        let t0 = now()
        let y = conv.forward(x)
        let t1 = now()
        let dx = conv.backwardInput(y, inputShape: shape)
        let t2 = now()
        let flops = 2.0 * Double(cin * cout * 27 * d * 112 * 112)
        print(cin, cout, d, "fwd", t1 - t0, "GFLOPS", flops / (t1 - t0) / 1e9, "bwd", t2 - t1, flops / (t2 - t1) / 1e9, dx.data[0])
    }
}
