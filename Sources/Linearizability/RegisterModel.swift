/// A register (one etcd key): reads, blind writes, and compare-and-set on the value (an etcd Txn
/// comparing the value, then putting). Values must be unique per write for a check to mean much.
public enum RegisterModel: SequentialModel {
    public typealias State = String?

    public enum Input: Hashable, Sendable {
        case read
        case write(String)
        case compareAndSet(expected: String?, new: String)
    }

    public enum Output: Hashable, Sendable {
        case read(String?)
        case written
        case compareAndSet(succeeded: Bool)
    }

    public static var initialState: String? { nil }

    public static func step(_ state: String?, _ input: Input, _ output: Output?) -> String?? {
        switch (input, output) {
        case (.read, .read(let seen)?):
            return seen == state ? .some(state) : nil
        case (.read, nil):
            return .some(state)
        case (.write(let value), .written?), (.write(let value), nil):
            return .some(value)
        case (.compareAndSet(let expected, let new), .compareAndSet(let succeeded)?):
            if succeeded { return expected == state ? .some(new) : nil }
            return expected != state ? .some(state) : nil
        case (.compareAndSet(let expected, let new), nil):
            // Had it run here it succeeded exactly when the value matched; not running at all is
            // placing it last.
            return .some(expected == state ? new : state)
        default:
            return nil
        }
    }
}
