import Foundation

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
