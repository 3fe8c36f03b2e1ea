import Alerts
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// Tells the stream's clients that the change log grew.
///
/// The store's triggers append a row to `changes` for every insert or update
/// of a risk item, slip or case and every case transition, whoever writes it
/// (the pipeline, the case lifecycle, the scheduler, the CLI in another
/// process). The feed polls the newest `seq` (one index lookup) every
/// `pollInterval` and wakes the clients when it grew; each client then reads
/// the rows after its own position. So a client misses nothing: it starts at
/// the newest `seq` when it connects (or at `Last-Event-ID` when it comes
/// back), and every later commit has a larger `seq`.
final class ChangeFeed: Sendable {
    enum Signal: Sendable { case changed, heartbeat }

    private struct State {
        var subscribers: [Int: AsyncStream<Signal>.Continuation] = [:]
        var nextID = 0
        var lastSeq: Int64 = -1
    }

    let store: DisputeStore
    let pollInterval: Duration
    let heartbeatInterval: Duration
    /// Change-log rows older than this are pruned (hourly).
    let retention: TimeInterval
    private let state = Mutex(State())

    init(store: DisputeStore, pollInterval: Duration = .milliseconds(200), heartbeatInterval: Duration = .seconds(15),
         retention: TimeInterval = 2 * 86_400) {
        self.store = store
        self.pollInterval = pollInterval
        self.heartbeatInterval = heartbeatInterval
        self.retention = retention
    }

    /// A new client's wake-ups (coalesced: a slow client gets one wake-up for many commits).
    func subscribe() -> (id: Int, signals: AsyncStream<Signal>) {
        let (stream, continuation) = AsyncStream<Signal>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { s in
            s.nextID += 1
            s.subscribers[s.nextID] = continuation
            return s.nextID
        }
        return (id, stream)
    }

    /// Ends one client's wake-ups (its stream then finishes).
    func unsubscribe(_ id: Int) {
        state.withLock { $0.subscribers.removeValue(forKey: id) }?.finish()
    }

    var clientCount: Int { state.withLock { $0.subscribers.count } }

    private func broadcast(_ signal: Signal) {
        for c in state.withLock({ Array($0.subscribers.values) }) { c.yield(signal) }
    }

    /// Polls the change log until cancelled or shut down, then ends every client's stream.
    func run(logger: Logger) async {
        var sinceHeartbeat = Duration.zero
        var lastPrune = Date.distantPast
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let seq = try store.latestChangeSeq()
                let grew = state.withLock { s in
                    defer { s.lastSeq = seq }
                    return seq != s.lastSeq
                }
                if grew { broadcast(.changed) }
                if Date().timeIntervalSince(lastPrune) > 3600 {
                    lastPrune = Date()
                    let n = try store.pruneChanges(olderThan: lastPrune.addingTimeInterval(-retention))
                    if n > 0 { logger.info("stream.changes_pruned", metadata: ["changes.rows": "\(n)"]) }
                }
            } catch {
                logger.warning("stream.poll_failed", metadata: ["error": "\(error)"])
            }
            sinceHeartbeat += pollInterval
            if sinceHeartbeat >= heartbeatInterval {
                sinceHeartbeat = .zero
                broadcast(.heartbeat)
            }
            try? await Task.sleep(for: pollInterval)
        }
        for c in state.withLock({ s in defer { s.subscribers = [:] }; return Array(s.subscribers.values) }) { c.finish() }
    }
}

/// `GET /api/v1/stream`: Server-Sent Events of the change log.
///
/// Each event is one change, oldest first:
///
/// ```
/// id: 42
/// event: case
/// data: {"seq":42,"kind":"case","op":"new","at":"…","object":{…Case.json…}}
/// ```
///
/// `event` is `risk_item`, `slip`, `case` or `transition`; `op` is `new` or
/// `updated`; `object` is the object as the API returns it, read when the
/// event is sent (so two quick changes of one object both arrive, each with
/// its latest state). The first event, `ready`, says where the stream
/// starts (`{"after": SEQ}`); a `: keepalive` comment follows every 15 s of
/// quiet. A client that reconnects with `Last-Event-ID` (browsers do) or
/// `?after=SEQ` gets every change after that one that is still in the log
/// (kept two days).
enum EventStream {
    static let pageSize = 200

    static func response(request: Request, store: DisputeStore, feed: ChangeFeed, after start: Int64) -> Response {
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8",
            .cacheControl: "no-cache",
            HeaderName.accelBuffering: "no",
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let (id, signals) = feed.subscribe()
            defer { feed.unsubscribe(id) }
            do {
                try await request.body.consumeWithCancellationOnInboundClose { _ in
                    try await withGracefulShutdownHandler {
                        try await pump(writer: &writer, store: store, signals: signals, start: start)
                    } onGracefulShutdown: {
                        feed.unsubscribe(id)
                    }
                }
            } catch is CancellationError {
                return // the client went away
            }
            try await writer.finish(nil)
        })
    }

    private static func pump(writer: inout any ResponseBodyWriter, store: DisputeStore, signals: AsyncStream<ChangeFeed.Signal>, start: Int64) async throws {
        var cursor = start
        try await writer.write(ByteBuffer(string: "retry: 2000\nevent: ready\ndata: {\"after\":\(start)}\n\n"))
        var wake = signals.makeAsyncIterator()
        while true {
            // Send everything after the cursor, a page at a time.
            while true {
                let after = cursor
                let page = try await store.writer.read { db in
                    try DisputeStore.changes(after: after, limit: pageSize, db: db).map { ($0, try DisputeStore.object(of: $0, db: db)) }
                }
                var text = ""
                for (change, object) in page {
                    cursor = change.seq
                    guard let object else { continue }
                    text += event(change, object)
                }
                if !text.isEmpty { try await writer.write(ByteBuffer(string: text)) }
                if page.count < pageSize { break }
            }
            guard let signal = await wake.next() else { return }
            if signal == .heartbeat { try await writer.write(ByteBuffer(string: ": keepalive\n\n")) }
        }
    }

    /// One SSE event for a change.
    static func event(_ change: Change, _ object: JSONValue) -> String {
        let data = JSONValue.object([
            "seq": .number(Double(change.seq)), "kind": .string(change.kind.rawValue), "op": .string(change.op.rawValue),
            "at": .string(change.at.rfc3339), "object": object,
        ])
        return "id: \(change.seq)\nevent: \(change.kind.rawValue)\ndata: \(data.serialized)\n\n"
    }
}
