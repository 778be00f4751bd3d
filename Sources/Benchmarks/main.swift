// Usage: Benchmarks [volume|network] [runs]. Without an argument every group runs.
let group = CommandLine.arguments.dropFirst().first
if group == nil || group == "volume" { runVolumeBenchmarks() }
if group == nil || group == "network" { runNetworkBenchmarks() }
