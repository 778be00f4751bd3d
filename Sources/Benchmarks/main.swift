print("benchmarks")
runVolumeBenchmarks()
