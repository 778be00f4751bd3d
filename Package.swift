// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "agg2exp",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "agg2exp", targets: ["agg2exp"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        // C shims: each publishes a small, prefixed API so Swift never sees the raw C structs.
        .systemLibrary(name: "CNCurses",
                       providers: [.apt(["libncurses-dev"])]),
        .target(name: "CNifti",
                cSettings: [.unsafeFlags(["-I/usr/include/nifti"])],
                linkerSettings: [.linkedLibrary("nifti2"), .linkedLibrary("znz"),
                                 .linkedLibrary("z"), .linkedLibrary("m")]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),

        // Translation-exact GEMM for convolutions (fused multiply-add chains in a fixed order).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),

        .target(name: "Engine", dependencies: [
            "CNifti", "COpenBLAS", "CKernels", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ]),
        .target(name: "Explorer", dependencies: ["Engine"]),
        .target(name: "Terminal", dependencies: ["CNCurses", "Engine", "Explorer"]),
        .executableTarget(name: "agg2exp", dependencies: [
            "Engine", "Explorer", "Terminal",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "Benchmarks", dependencies: ["Engine"]),
        // libFuzzer harnesses of the file readers (scripts/fuzz.sh); a plain build replays inputs.
        .executableTarget(name: "Fuzz", dependencies: ["Engine"]),

        .target(name: "TestSupport", dependencies: ["Engine"], path: "Tests/TestSupport"),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "CNifti", "COpenBLAS", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "ExplorerTests", dependencies: ["Explorer", "Engine", "TestSupport"],
                    exclude: ["Fixtures"], resources: [.copy("Snapshots")]),
        .testTarget(name: "TerminalTests", dependencies: ["Terminal", "CNCurses", "Engine", "Explorer", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "CLITests", dependencies: ["Engine", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
