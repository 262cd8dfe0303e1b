import Foundation

/// SplitMix64: a tiny deterministic generator, so that any failing run replays from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Knobs read from the environment so CI runs small and a developer can run long.
enum TestEnvironment {
    /// Total property-test operations for a suite, `BTREE_PROPERTY_OPS` or `defaultValue`.
    static func operations(_ defaultValue: Int) -> Int {
        ProcessInfo.processInfo.environment["BTREE_PROPERTY_OPS"].flatMap(Int.init) ?? defaultValue
    }

    /// Seeds to run: `BTREE_PROPERTY_SEED` alone when set (to replay a failure), else `defaults`.
    static func seeds(_ defaults: [UInt64]) -> [UInt64] {
        ProcessInfo.processInfo.environment["BTREE_PROPERTY_SEED"].flatMap(UInt64.init).map { [$0] } ?? defaults
    }
}
