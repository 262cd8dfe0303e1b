import Synchronization

/// Where readers on any thread pick up the latest published `ReadView`.
///
/// The lock is held only to copy or replace a view (a few retains), never while reading or
/// applying, so readers and the writer do not wait on each other's work.
package final class ReadViewSource: Sendable {
    private let view: Mutex<ReadView>

    init(_ view: ReadView) {
        self.view = Mutex(view)
    }

    /// The latest published view.
    package func current() -> ReadView {
        view.withLock { $0 }
    }

    func publish(_ newView: ReadView) {
        // The old view is released outside the lock: freeing nodes no reader holds can take time.
        let old = view.withLock { view in
            let old = view
            view = newView
            return old
        }
        _ = old
    }
}
