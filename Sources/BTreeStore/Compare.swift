/// A condition of a Txn: etcd's `Compare`.
package struct Compare: Hashable, Sendable {
    /// How the target compares with the operand.
    package enum Result: Int, Sendable {
        /// Equal.
        case equal = 0
        /// Greater than the operand.
        case greater = 1
        /// Less than the operand.
        case less = 2
        /// Not equal.
        case notEqual = 3
    }

    /// The field compared, with its operand.
    package enum Target: Hashable, Sendable {
        /// The version (0 for a missing key).
        case version(Int64)
        /// The create revision (0 for a missing key).
        case createRevision(Int64)
        /// The mod revision (0 for a missing key).
        case modRevision(Int64)
        /// The value (a compare of a missing key's value is always false).
        case value([UInt8])
        /// The lease (0 for none or a missing key).
        case lease(Int64)
    }

    /// The relation required.
    package var result: Result
    /// The field and operand.
    package var target: Target
    /// The key, or the first key of a range (every key in it must satisfy the compare).
    package var key: [UInt8]
    /// As in `RangeRequest.rangeEnd`.
    package var rangeEnd: [UInt8]

    /// A compare.
    package init(key: [UInt8], rangeEnd: [UInt8] = [], target: Target, result: Result) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.target = target
        self.result = result
    }
}
