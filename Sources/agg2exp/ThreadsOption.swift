import ArgumentParser
import Engine

/// `--threads N`: the compute workers of the network kernels. By default, the cores this process
/// may use (its CPU affinity, capped by a cgroup CPU quota such as a container's or a SLURM job's).
struct ThreadsOption: ParsableArguments {
    @Option(help: "Compute threads (default: the cores this process may use, \(ComputeThreads.available) here).")
    var threads: Int?

    func validate() throws {
        if let threads, !(1...1024).contains(threads) {
            throw ValidationError("--threads must be between 1 and 1024")
        }
    }

    func apply() { ComputeThreads.set(threads) }
}
