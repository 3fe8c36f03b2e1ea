import Alerts
import AlertsStore
import Foundation
import Logging
import PatrolHubMQTT
import PatrolHubRuntime
import ServiceLifecycle

/// Copies the store's and the inbox's WALs into their database files on a
/// thread of its own (`DisputeStore.checkpoint()`, SQLite PASSIVE
/// checkpoints), so that neither the MQTT thread, whose commits hold back
/// PUBACKs, nor the pipeline, whose commits are the events' latency, waits
/// for the pages to be copied and synced to disk.
///
/// It sleeps until the pipeline commits (`commits`), then lets the commits
/// of the next `interval` gather and copies them at once: at most one
/// checkpoint per interval under load, none while the hub is idle.
struct CheckpointService: Service {
    let store: DisputeStore
    /// Rung after each pipeline commit.
    let commits: Doorbell
    let logger: Logger
    /// At most one checkpoint this often.
    var interval: Duration = .milliseconds(250)

    func run() async throws {
        let stop = StopFlag()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
                    let thread = Thread {
                        ProcessSupport.nameCurrentThread("checkpoint")
                        self.loop(stop: stop)
                        cont.resume()
                    }
                    thread.name = "checkpoint"
                    thread.start()
                }
            } onGracefulShutdown: {
                stop.set()
                commits.ring()
            }
        } onCancel: {
            stop.set()
            commits.ring()
        }
    }

    private func loop(stop: StopFlag) {
        var seen = commits.rings
        var lastFailure = ContinuousClock.now - .seconds(60)
        while !stop.isSet {
            commits.wait(after: seen, timeout: nil)
            // Let the commits of the next interval come, then copy them in one checkpoint;
            // a shutdown ends the wait at once.
            guard !stop.isSet else { break }
            stop.wait(timeout: interval.seconds)
            guard !stop.isSet else { break }
            seen = commits.rings
            do {
                try store.checkpoint()
            } catch {
                // The pages stay in the WAL (the writers' own automatic checkpoint is the fallback);
                // logged at most once a minute.
                if ContinuousClock.now - lastFailure > .seconds(60) {
                    lastFailure = ContinuousClock.now
                    logger.warning("store.checkpoint_failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
