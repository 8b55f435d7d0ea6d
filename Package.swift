// swift-tools-version:6.0
import PackageDescription

// Numeric code is written against raw pointers and a hand-managed thread pool; Swift 6's strict
// concurrency checking adds nothing there, so every target stays in the Swift 5 language mode.
//
// The project's own builds (scripts/test.sh, quickstart.sh, paper.sh, tldr.sh, the bench and
// sanitizer scripts, CI) set RLHF_NATIVE=1, which adds two unsafe flags:
// - on x86-64, code for the building machine's CPU (as llm.c builds with -march=native): without
//   it Swift targets the 2003 baseline (SSE2), so SIMD8<Float> runs as two 4-lane halves with no
//   FMA, which halves the speed of every kernel that is not a BLAS call. A binary built so runs
//   only on CPUs like the building one; RLHF_PORTABLE=1 compiles for the baseline instead;
// - -enforce-exclusivity=unchecked: no run-time exclusivity checks in the hot loops.
// SwiftPM refuses a package fetched by URL whose targets carry unsafe flags, so without
// RLHF_NATIVE (a plain `swift build`, or another package depending on this one) the targets carry
// none: baseline code, exclusivity checked, the same results up to the rounding of FMA.
// The x86-64 baseline has no FMA instruction, so there the kernels multiply and add separately
// (RLHF_NO_FMA): a fused multiply-add would become a library call per lane.
let native = Context.environment["RLHF_NATIVE"] == "1"
#if arch(x86_64)
let portable = !native || Context.environment["RLHF_PORTABLE"] == "1"
let cpuSettings: [SwiftSetting] = portable ? [.define("RLHF_NO_FMA")] : [.unsafeFlags(["-Xcc", "-march=native"])]
#else
let cpuSettings: [SwiftSetting] = []
#endif
let settings: [SwiftSetting] = (native ? [.unsafeFlags(["-enforce-exclusivity=unchecked"])] : []) + cpuSettings

let package = Package(
    name: "rlhf",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "rlhf", targets: ["rlhf"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "GPT", targets: ["GPT"]),
        .library(name: "Alignment", targets: ["Alignment"]),
        .library(name: "Experiments", targets: ["Experiments"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            path: "Modules/COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        // Open MPI, for data-parallel runs under mpirun/srun; only the Distributed target imports it.
        .systemLibrary(
            name: "COpenMPI",
            path: "Modules/COpenMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]
        ),
        .target(name: "CPrefetch"),
        .target(name: "JSON", swiftSettings: settings),
        .target(name: "Files", swiftSettings: settings),
        .target(name: "Engine", dependencies: ["COpenBLAS", "CPrefetch"], swiftSettings: settings),
        .target(name: "Tokenizer", dependencies: ["JSON", "Files"], swiftSettings: settings),
        .target(name: "GPT", dependencies: ["Engine", "JSON", "Files"], swiftSettings: settings),
        .target(name: "Data", dependencies: ["Engine", "JSON", "Files"], swiftSettings: settings),
        .target(name: "Alignment", dependencies: ["Engine", "GPT", "Files"], swiftSettings: settings),
        .target(name: "Experiments", dependencies: ["Alignment", "Engine", "GPT", "JSON", "Tokenizer", "Data", "Files"], swiftSettings: settings),
        .target(name: "Distributed", dependencies: ["COpenMPI", "Alignment", "Engine"], swiftSettings: settings),
        .executableTarget(
            name: "rlhf",
            dependencies: ["Experiments", "Distributed", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: settings
        ),
        .testTarget(name: "JSONTests", dependencies: ["JSON", "Experiments"], swiftSettings: settings),
        .testTarget(name: "FilesTests", dependencies: ["Files"], swiftSettings: settings),
        .testTarget(name: "EngineTests", dependencies: ["Engine"], swiftSettings: settings),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "JSON", "Files"], resources: [.copy("Fixtures")], swiftSettings: settings),
        .testTarget(name: "GPTTests", dependencies: ["GPT", "Engine"], resources: [.copy("Fixtures")], swiftSettings: settings),
        .testTarget(name: "DataTests", dependencies: ["Data", "Engine", "JSON"], swiftSettings: settings),
        .testTarget(name: "AlignmentTests", dependencies: ["Alignment", "GPT", "Engine", "Files"], swiftSettings: settings),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "Alignment", "Data", "GPT", "JSON", "Tokenizer", "Files", "rlhf"], swiftSettings: settings),
    ],
    swiftLanguageModes: [.v5]
)
