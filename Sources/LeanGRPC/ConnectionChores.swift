import NIOCore
import NIOHTTP2

/// Flushes a connection once per burst of writes: at the end of the read that caused them, or in a
/// task queued behind the work already waiting on the event loop (answers of one Raft batch, say).
/// Used on the event loop only.
final class FlushCoalescer {
    private var reading = false
    private var needsFlush = false
    private var flushScheduled = false

    func readBegan() {
        reading = true
    }

    func readEnded(_ context: ChannelHandlerContext) {
        reading = false
        if needsFlush {
            needsFlush = false
            context.flush()
        }
    }

    /// Something was written: make sure a flush follows.
    func wrote(_ context: ChannelHandlerContext) {
        if reading {
            needsFlush = true
            return
        }
        guard !flushScheduled else { return }
        flushScheduled = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (coalescer, context) = bound.value
            coalescer.flushScheduled = false
            context.flush()
        }
    }
}

/// The inbound flow-control windows an end keeps open: topped up to their targets once they fall
/// below half, as swift-nio-http2's multiplexer would do (we run without it).
struct InboundWindows {
    var streamBytes: Int
    var connectionBytes: Int

    /// The WINDOW_UPDATE to send for a window that changed, if any.
    func update(for event: NIOHTTP2WindowUpdatedEvent, streamIsOpen: Bool) -> HTTP2Frame? {
        guard let size = event.inboundWindowSize else { return nil }
        let target = event.streamID == .rootStream ? connectionBytes : streamBytes
        guard size < target / 2, event.streamID == .rootStream || streamIsOpen else { return nil }
        return HTTP2Frame(streamID: event.streamID, payload: .windowUpdate(windowSizeIncrement: target - size))
    }
}
