/// One change of one key, as watchers see it: etcd's `mvccpb.Event`.
package struct Event: Hashable, Sendable {
    /// What happened to the key.
    package enum EventType: Int, Sendable {
        /// The key was written.
        case put = 0
        /// The key was deleted.
        case delete = 1
    }

    /// What happened.
    package var type: EventType
    /// The key-value after a put; for a delete, only the key and the mod revision (as in etcd).
    package var kv: KeyValue
    /// The key-value before the change, when the key existed.
    package var prevKV: KeyValue?

    /// An event.
    package init(type: EventType, kv: KeyValue, prevKV: KeyValue? = nil) {
        self.type = type
        self.kv = kv
        self.prevKV = prevKV
    }

    /// The bytes of keys and values it carries: what makes a response large.
    package var payloadBytes: Int {
        kv.key.count + kv.value.count + (prevKV.map { $0.key.count + $0.value.count } ?? 0)
    }
}
