import Foundation

#if FUZZING
/// libFuzzer's driver (built with -sanitize=fuzzer and -DFUZZING, see scripts/fuzz.sh). SwiftPM
/// supplies its own entry point for executables, so libFuzzer is started from it instead of from
/// libFuzzer's `main`.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@main
struct FuzzDriver {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        _ = Harness.selected  // exits with a usage message before fuzzing when unset
        exit(LLVMFuzzerRunDriver(&argc, &argv) { bytes, count in
            Harness.selected.run(bytes.map { Data(bytes: $0, count: count) } ?? Data())
            return 0
        })
    }
}
#else
/// Without libFuzzer: replays files (a corpus or crash reproducers) through a harness, so any
/// input found by fuzzing can be rerun in an ordinary build: `Fuzz HARNESS FILE...`.
@main
struct FuzzReplay {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        guard let name = args.first, let harness = Harness(rawValue: name) else {
            print("usage: Fuzz \(Harness.allCases.map(\.rawValue).joined(separator: "|")) FILE...")
            exit(64)
        }
        for path in args.dropFirst() {
            harness.run((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data())
        }
        print("replayed \(args.count - 1) inputs through \(name)")
    }
}
#endif
