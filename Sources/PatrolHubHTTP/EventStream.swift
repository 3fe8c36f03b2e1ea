import Alerts
import AlertsStore
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
/// process). While a client is connected, the feed reads the newest `seq`
/// (one index lookup) when `commits` rings (after each pipeline commit and
/// each write through the HTTP API) and at least every `pollInterval`, and
/// wakes the clients when it grew; each client then sends the rows after its own position, read
/// through `page(after:covering:)`, which reads a page once for every client at the same position
/// (a dozen boards open read the store once per commit, not a dozen times). The poll
/// stays, slow (1 s), for the one writer that cannot ring: a `patrolhub`
/// command in another process. So a client misses nothing: it starts at
/// the newest `seq` when it connects (or at `Last-Event-ID` when it comes
/// back), and every later commit has a larger `seq`. Its store calls run
/// on `StoreThreads`, never on the server's threads; at most `maxClients`
/// clients subscribe at once.
final class ChangeFeed: Sendable {
    /// What wakes a client: the log grew through a seq, or a quiet spell wants a keepalive. A client
    /// keeps only its newest signal, so a heartbeat also says how far the log is known to reach:
    /// it may have replaced a change the client had not taken yet.
    enum Signal: Sendable, Equatable { case changed(through: Int64), heartbeat(through: Int64) }

    private struct State {
        var subscribers: [Int: AsyncStream<Signal>.Continuation] = [:]
        var nextID = 0
        var lastSeq: Int64 = -1
    }

    /// Changes after a seq, as the stream sends them.
    struct Page: Sendable {
        /// The events, rendered (empty when every object was gone).
        let text: String
        /// The seq of the page's last change (the page's `after` when it is empty).
        let cursor: Int64
        /// Changes in the page: `EventStream.pageSize` means more may follow.
        let count: Int
    }

    /// A page read (or being read), shared by the clients at its position: it holds every change
    /// through `covers` after its position, or is a full page.
    private struct SharedPage {
        let read: Task<Page, any Error>
        let covers: Int64
    }

    /// Shared pages kept at most, by position: the live clients share one, a few lagging ones others.
    static let sharedPages = 8
    private let pages = Mutex([Int64: SharedPage]())
    /// Pages read from the store, and the wake-ups for a grown log sent (tests compare them).
    let pageReads = Atomic<Int>(0)
    let changeWakes = Atomic<Int>(0)

    let store: any DispatchStore
    let threads: StoreThreads
    /// Subscribers at most (`http.max_stream_clients`).
    let maxClients: Int
    let pollInterval: Duration
    /// Rung after each pipeline commit (nil: the poll only).
    let commits: Doorbell?
    let heartbeatInterval: Duration
    /// Change-log rows older than this are pruned (every minute)…
    let retention: TimeInterval
    /// …and so are all but the newest `maxRows`, so a flood cannot grow the log without bound.
    let maxRows: Int64
    private let state = Mutex(State())

    /// A feed of `store`'s change log; `pollInterval` defaults to 1 s with `commits`, 200 ms without.
    init(store: any DispatchStore, threads: StoreThreads, maxClients: Int = 200, commits: Doorbell? = nil, pollInterval: Duration? = nil,
         heartbeatInterval: Duration = .seconds(15), retention: TimeInterval = 2 * 86_400, maxRows: Int64 = 1_000_000) {
        self.store = store
        self.threads = threads
        self.maxClients = maxClients
        self.commits = commits
        self.pollInterval = pollInterval ?? (commits == nil ? .milliseconds(200) : .seconds(1))
        self.heartbeatInterval = heartbeatInterval
        self.retention = retention
        self.maxRows = maxRows
    }

    /// One client's place in the feed; dropping it (however the response
    /// ends, even if its body never runs) frees the place.
    final class Subscription: Sendable {
        let id: Int
        let signals: AsyncStream<Signal>
        private let feed: ChangeFeed

        fileprivate init(id: Int, signals: AsyncStream<Signal>, feed: ChangeFeed) {
            self.id = id
            self.signals = signals
            self.feed = feed
        }

        deinit { feed.unsubscribe(id) }
    }

    /// A new client's wake-ups (coalesced: a slow client gets one wake-up for
    /// many commits); nil when `maxClients` are subscribed already.
    func subscribe() -> Subscription? {
        let (stream, continuation) = AsyncStream<Signal>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id: Int? = state.withLock { s in
            guard s.subscribers.count < maxClients else { return nil }
            s.nextID += 1
            s.subscribers[s.nextID] = continuation
            return s.nextID
        }
        guard let id else {
            continuation.finish()
            return nil
        }
        return Subscription(id: id, signals: stream, feed: self)
    }

    /// Ends one client's wake-ups (its stream then finishes); the last one lets the shared pages go.
    func unsubscribe(_ id: Int) {
        let (continuation, none) = state.withLock { s in (s.subscribers.removeValue(forKey: id), s.subscribers.isEmpty) }
        continuation?.finish()
        if none { pages.withLock { $0.removeAll() } }
    }

    var clientCount: Int { state.withLock { $0.subscribers.count } }

    /// The changes after `after`, at most `EventStream.pageSize`, including every change through
    /// `covering` (the seq the client was woken for, or the newest when it connected). A read of
    /// the same position begun once the feed knew of that seq is shared instead of repeated:
    /// it began after that change was committed, so it holds it.
    func page(after: Int64, covering: Int64) async throws -> Page {
        let read: Task<Page, any Error> = pages.withLock { pages in
            if let shared = pages[after], shared.covers >= covering { return shared.read }
            // What the feed knows was committed before this read begins (a lower bound of what it will see).
            let covers = max(covering, state.withLock { $0.lastSeq })
            let task = Task { [self] in
                pageReads.add(1, ordering: .relaxed)
                let store = self.store
                let rows = try await threads.offload { try store.changesWithObjects(after: after, limit: EventStream.pageSize) }
                var text = ""
                for (change, object) in rows { if let object { text += EventStream.event(change, object) } }
                return Page(text: text, cursor: rows.last?.0.seq ?? after, count: rows.count)
            }
            pages[after] = SharedPage(read: task, covers: covers)
            if pages.count > Self.sharedPages, let oldest = pages.min(by: { $0.value.covers < $1.value.covers })?.key {
                pages.removeValue(forKey: oldest)
            }
            return task
        }
        do {
            return try await read.value
        } catch {
            // A failed read is not shared with clients that come later.
            pages.withLock { pages in
                if let shared = pages[after], shared.read == read { pages.removeValue(forKey: after) }
            }
            throw error
        }
    }

    private func broadcast(_ signal: Signal) {
        for c in state.withLock({ Array($0.subscribers.values) }) { c.yield(signal) }
    }

    /// Follows the change log until cancelled or shut down, then ends every client's stream.
    func run(logger: Logger) async {
        var lastHeartbeat = ContinuousClock.now
        var lastPrune = Date.distantPast
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // Read before the change log: a commit from here on ends the wait below at once.
            let seen = commits?.rings ?? 0
            do {
                let store = self.store
                // Nobody to tell: the change log is not read (a client that subscribes reads from its own
                // position, and the first read after it wakes it if the log moved meanwhile).
                if clientCount > 0 {
                    let seq = try await threads.offload { try store.latestChangeSeq() }
                    let grew = state.withLock { s in
                        defer { s.lastSeq = seq }
                        return seq != s.lastSeq
                    }
                    if grew {
                        changeWakes.add(1, ordering: .relaxed)
                        broadcast(.changed(through: seq))
                    }
                }
                if Date().timeIntervalSince(lastPrune) > 60 {
                    lastPrune = Date()
                    let (cutoff, maxRows) = (lastPrune.addingTimeInterval(-retention), self.maxRows)
                    let n = try await threads.offload { try store.pruneChanges(olderThan: cutoff, keepingNewest: maxRows) }
                    if n > 0 { logger.info("stream.changes_pruned", metadata: ["changes.rows": "\(n)"]) }
                }
            } catch let error where !Task.isCancelled {
                logger.warning("stream.poll_failed", metadata: ["error": "\(error)"])
            } catch {}
            if ContinuousClock.now - lastHeartbeat >= heartbeatInterval {
                lastHeartbeat = ContinuousClock.now
                broadcast(.heartbeat(through: state.withLock { $0.lastSeq }))
            }
            let (commits, pollInterval) = (self.commits, self.pollInterval)
            try? await cancelWhenGracefulShutdown {
                if let commits { await commits.next(after: seen, timeout: pollInterval) } else { try await Task.sleep(for: pollInterval) }
            }
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
/// (kept two days, at most the newest million changes). When some of them
/// were pruned, its `ready` event says so — `{"after": SEQ, "missed":
/// {"from": A, "through": B}}`, the changes it can no longer get — and the
/// stream goes on from the oldest change kept: the client reloads its lists
/// from the API.
enum EventStream {
    static let pageSize = 200

    static func response(request: Request, feed: ChangeFeed, subscription: ChangeFeed.Subscription, after start: Int64, latest: Int64,
                         missed: ClosedRange<Int64>? = nil) -> Response {
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8",
            .cacheControl: "no-cache",
            HeaderName.accelBuffering: "no",
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let id = subscription.id
            do {
                try await request.body.consumeWithCancellationOnInboundClose { _ in
                    try await guarded(onShutdown: { feed.unsubscribe(id) }) { watch in
                        try await pump(writer: &writer, watch: watch, feed: feed, signals: subscription.signals,
                                       start: start, latest: latest, missed: missed)
                    }
                }
            } catch is CancellationError {
                return // the client went away
            }
            // A stream `guarded` cut (`streamCut`) throws on: the server then closes the connection
            // instead of writing the response's end to a client that does not read.
            try await writer.finish(nil)
        })
    }

    /// A write the client has not taken for this long (it stopped reading: a laptop asleep with
    /// the board open) ends its stream, and its place with it. Four heartbeats.
    static let writeStall = Duration.seconds(60)
    /// After graceful shutdown begins, a stream that has not ended by itself this long later
    /// (its client does not read the last events) is cut, so it cannot hold the hub's shutdown.
    static let shutdownGrace = Duration.seconds(2)

    /// The stream's writes and the hub's shutdown, as `guarded` watches them: woken by a write
    /// that starts and by the shutdown, never polling (a stream that writes sleeps until its
    /// write's deadline, about once a minute).
    final class WriteWatch: Sendable {
        private struct State {
            /// The write waiting now (nil: none), numbered.
            var writing: (id: Int, started: ContinuousClock.Instant)?
            var nextID = 0
        }
        private let state = Mutex(State())
        private let starts: AsyncStream<Void>
        private let startsSource: AsyncStream<Void>.Continuation
        private let shutdown: AsyncStream<Void>
        private let shutdownSource: AsyncStream<Void>.Continuation

        init() {
            (starts, startsSource) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
            (shutdown, shutdownSource) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        }

        /// Runs one write of the stream, timed.
        func write(_ body: () async throws -> Void) async throws {
            state.withLock { $0.writing = ($0.nextID, .now); $0.nextID += 1 }
            startsSource.yield()
            defer { state.withLock { $0.writing = nil } }
            try await body()
        }

        func shutdownBegan() {
            shutdownSource.yield()
            shutdownSource.finish()
        }

        /// Returns once a write has waited longer than `stall`.
        func stalled(after stall: Duration) async throws {
            var starts = self.starts.makeAsyncIterator()
            while true {
                guard let writing = state.withLock({ $0.writing }) else {
                    guard await starts.next() != nil else { throw CancellationError() }
                    continue
                }
                try await Task.sleep(until: writing.started + stall, clock: .continuous)
                if state.withLock({ $0.writing?.id }) == writing.id { return }
            }
        }

        /// Returns `grace` after shutdown began.
        func shutdown(thenAfter grace: Duration) async throws {
            var shutdown = self.shutdown.makeAsyncIterator()
            _ = await shutdown.next()
            try await Task.sleep(for: grace) // throws at once when the stream ended meanwhile (cancelled)
        }
    }

    /// Runs the stream's `pump` until it ends; cancels it and throws `HubError.Code.streamCut` when one of
    /// its writes stalls, or when graceful shutdown began and it did not end soon after.
    /// `onShutdown` (unsubscribing, which ends a pump whose client reads) runs when shutdown begins.
    static func guarded(onShutdown: @escaping @Sendable () -> Void, _ pump: (WriteWatch) async throws -> Void) async throws {
        let watch = WriteWatch()
        try await withGracefulShutdownHandler {
            try await withoutActuallyEscaping(pump) { pump in
                let unsafePump = UnsafePump(run: pump)
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask { try await unsafePump.run(watch); return true }
                    group.addTask { try await watch.stalled(after: writeStall); return false }
                    group.addTask { try await watch.shutdown(thenAfter: shutdownGrace); return false }
                    let pumpEnded = try await group.next() ?? true
                    group.cancelAll()
                    if !pumpEnded { throw HubError(.streamCut, "the stream's client does not read, or the hub is stopping") }
                }
            }
        } onGracefulShutdown: {
            onShutdown()
            watch.shutdownBegan()
        }
    }

    /// The pump handed to a child task of `guarded`, which awaits it before returning (what
    /// `withoutActuallyEscaping` requires); it writes to the response's writer, which only it uses.
    private struct UnsafePump: @unchecked Sendable {
        let run: (WriteWatch) async throws -> Void
    }

    private static func pump(writer: inout any ResponseBodyWriter, watch: WriteWatch, feed: ChangeFeed,
                             signals: AsyncStream<ChangeFeed.Signal>, start: Int64, latest: Int64, missed: ClosedRange<Int64>?) async throws {
        var cursor = start
        let readyEvent = "retry: 2000\nevent: ready\ndata: \(ready(after: start, missed: missed).serialized)\n\n"
        try await watch.write { try await writer.write(ByteBuffer(string: readyEvent)) }
        var wake = signals.makeAsyncIterator()
        var covering = latest
        while true {
            // Send everything after the cursor through `covering`, a page at a time.
            while true {
                let page = try await feed.page(after: cursor, covering: covering)
                cursor = page.cursor
                if !page.text.isEmpty { try await watch.write { try await writer.write(ByteBuffer(string: page.text)) } }
                if page.count < pageSize { break }
            }
            while true {
                guard let signal = await wake.next() else { return }
                if case .heartbeat = signal { try await watch.write { try await writer.write(ByteBuffer(string: ": keepalive\n\n")) } }
                if let through = read(after: signal, cursor: cursor) {
                    covering = through
                    break
                }
            }
        }
    }

    /// Through which seq a client at `cursor` reads on `signal`, nil when it needs no read: a change
    /// always reads; a keepalive reads only when the log reaches past the cursor (the heartbeat
    /// replaced a change the client had not taken: it keeps only its newest signal).
    static func read(after signal: ChangeFeed.Signal, cursor: Int64) -> Int64? {
        switch signal {
        case .changed(let through): return through
        case .heartbeat(let through): return through > cursor ? through : nil
        }
    }

    /// The `ready` event's data: where the stream starts, and the changes pruned before the client could get them.
    static func ready(after start: Int64, missed: ClosedRange<Int64>?) -> JSONValue {
        var o: JSONObject = ["after": .number(Double(start))]
        if let missed { o["missed"] = .object(["from": .number(Double(missed.lowerBound)), "through": .number(Double(missed.upperBound))]) }
        return .object(o)
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
