/// Polls `condition` until it returns true, failing with `TestSupportError.timedOut` at the deadline.
///
/// - Parameters:
///   - what: what is awaited, for the error message.
///   - timeout: how long to keep trying.
///   - interval: the pause between tries.
///   - condition: returns true when ready; errors it throws count as "not yet", except that the
///     last one is reported when time runs out.
public func waitUntil(
    _ what: String,
    timeout: Duration = .seconds(30),
    interval: Duration = .milliseconds(100),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    var lastError: (any Error)?
    while true {
        do {
            if try await condition() { return }
            lastError = nil
        } catch let error as TestSupportError {
            if case .processExited = error { throw error }
            lastError = error
        } catch {
            lastError = error
        }
        if ContinuousClock.now >= deadline {
            throw TestSupportError.timedOut(what + (lastError.map { " (last error: \($0))" } ?? ""))
        }
        try await Task.sleep(for: interval)
    }
}
