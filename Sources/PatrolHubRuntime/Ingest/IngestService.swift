import Alerts
import AlertsStore
import Foundation
import Logging
import PatrolHubHTTP
import PatrolHubMQTT
import ServiceLifecycle
import Synchronization

/// MQTT → durable inbox. Each group of messages the client reads in one
/// round comes through `MQTTClient.batches`; it is committed to SQLite on a
/// store thread (never on the cooperative pool), and only then acknowledged,
/// which lets the client write its PUBACKs (see `MQTTClient`). A group that
/// cannot be committed is rejected: the client drops the connection without
/// acknowledging it, and the broker redelivers it.
package struct IngestService: Service {
    /// The MQTT session the groups are read from.
    package let client: MQTTClient
    /// Commits one group to the inbox; returns whether it is durable.
    private let commit: @Sendable ([ReceivedMessage]) -> Bool

    /// An ingest reading with `options` into `store`; `onCommit` is told how many messages each durable group inserted.
    package init(options: MQTTClient.Options, store: DisputeStore, logger: Logger, health: HubHealth? = nil, onCommit: (@Sendable (Int) -> Void)? = nil) {
        let failingSince = FailingSince()
        client = MQTTClient(options: options, logger: logger, delivery: .batches)
        commit = { batch in
            do {
                let inserted = try store.ingest(batch.map(\.inboxMessage))
                health?.ingestCommitted(inserted)
                if let since = failingSince.clear() {
                    logger.notice("inbox.commit_recovered", metadata: ["inbox.unavailable_s": "\(HubFormat.fixed(Date().timeIntervalSince(since), digits: 1))"])
                }
                onCommit?(inserted)
                return true
            } catch {
                failingSince.mark()
                health?.ingestFailed("\(error)")
                // Nothing of the group is acknowledged: the broker keeps it and redelivers it after the reconnect.
                logger.error("inbox.commit_failed", metadata: ["error": "\(error)", "inbox.batch": "\(batch.count)",
                                                               "inbox.action": "not acknowledged: the broker keeps the messages"])
                return false
            }
        }
    }

    /// Reads, commits and acknowledges groups until shutdown, then stops the client and the store thread.
    package func run() async throws {
        let (client, commit) = (self.client, self.commit)
        try client.start()
        let storeThread = StoreThreads(threads: 1)
        // On shutdown the client stops taking messages: the group it holds is still
        // handed over, committed and acknowledged, then the sequence ends.
        await withGracefulShutdownHandler {
            for await batch in client.batches {
                let messages = batch.messages
                let ok = (try? await storeThread.offload { commit(messages) }) ?? false
                if ok { batch.acknowledge() } else { batch.reject() }
            }
        } onGracefulShutdown: {
            client.requestStop()
        }
        // Cancelled (another service failed) the loop ends first; the client stops with it.
        await client.shutdown()
        await storeThread.shutdown()
    }
}

/// Since when the inbox's commits have been failing (nil while they succeed).
package final class FailingSince: Sendable {
    private let value = Mutex<Date?>(nil)
    /// Records now as the start of the failures, unless already failing.
    package func mark() { value.withLock { if $0 == nil { $0 = Date() } } }
    /// Clears the mark, returning when the failures began (nil if none).
    package func clear() -> Date? { value.withLock { v in defer { v = nil }; return v } }
}

extension Duration {
    /// The duration in seconds.
    package var seconds: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
