/// The answer to a ``RawNode/readIndex(context:)`` request: once the application has applied up to
/// `index`, it may serve the read identified by `requestContext` linearizably.
public struct ReadState: Sendable, Hashable {
    /// The commit index at the time the read was confirmed by a quorum.
    public var index: UInt64
    /// The context passed to `readIndex`, which identifies the request (or the batch of requests).
    public var requestContext: [UInt8]

    /// Creates a read state.
    public init(index: UInt64, requestContext: [UInt8]) {
        self.index = index
        self.requestContext = requestContext
    }
}
