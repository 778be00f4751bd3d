// Usage: Benchmarks [volume|network|swin|nnunet|conv] [runs]. Without an argument the volume and network groups run.
let group = CommandLine.arguments.dropFirst().first
if group == nil || group == "volume" { runVolumeBenchmarks() }
if group == nil || group == "network" { runNetworkBenchmarks() }
if group == "swin" { runSwinBenchmarks() }
if group == "nnunet" { runNNUNetBenchmarks() }
if group == "conv" { runConvBenchmarks() }
