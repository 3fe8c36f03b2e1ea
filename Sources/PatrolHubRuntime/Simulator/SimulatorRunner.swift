import Alerts
import Foundation
import Logging
import PatrolHubMQTT
import Simulation

#if canImport(Glibc)
import Glibc
#endif

/// Publishes a `SimulationPlan` over MQTT (QoS 1) through the project's
/// libmosquitto wrapper, on the plan's schedule: scenario second `t` goes out
/// at `start + t / speed`.
///
/// Delivery is at least once: every message is tracked until the broker's
/// PUBACK; when the connection drops (a `disconnect` fault, a broker restart)
/// the wrapper discards what was in flight, and the runner publishes those
/// messages again after it reconnects — the same bytes, which the hub absorbs
/// by their event key. Messages are never reordered otherwise, so without a
/// disconnect the broker sees exactly the plan's sequence.
package final class SimulatorRunner: @unchecked Sendable {
    /// How the runner connects, paces and reports.
    package struct Options: Sendable {
        /// Broker address, credentials and client id of the publishing session.
        package var mqtt = MQTTClient.Options()
        /// Most messages published and not yet acknowledged before the runner waits.
        package var window = 20_000
        /// Print a progress line (rate, sent, acked, elapsed) to standard error.
        package var progress = false
        /// How long to wait for the last acknowledgements.
        package var ackTimeout: Double = 60
        /// Broker passwords by username: a camera's last-will connection logs in as that camera when it has one.
        package var accounts: [String: String] = [:]
        /// The wall instant of scenario second 0 (a simulated clock's); default: once connected.
        package var wallStart: Date?

        /// The defaults above.
        package init() {}
    }

    /// What a run did, with the wall-clock timeline the drill scores against.
    package struct Report: Sendable {
        /// Messages published, republished ones included.
        package var published = 0
        /// Messages the broker acknowledged (PUBACK).
        package var acknowledged = 0
        /// Messages published again after a reconnect.
        package var republished = 0
        /// Camera last-will connections made (and aborted).
        package var wills = 0
        /// Connection drops, injected or not.
        package var disconnects = 0
        /// When the run began.
        package var startedAt = Date()
        /// When the last acknowledgement came (or the run gave up).
        package var finishedAt = Date()
        /// The wall instant each trigger's message was sent, by trigger id.
        package var triggerSent: [String: Date] = [:]
        /// Scenario offsets against wall instants, for the drill's timeline.
        package var progress: [(offset: TimeInterval, wall: Date)] = []

        /// Wall-clock duration of the run.
        package var elapsed: TimeInterval { finishedAt.timeIntervalSince(startedAt) }
        /// Acknowledged messages per wall second.
        package var rate: Double { elapsed > 0 ? Double(acknowledged) / elapsed : 0 }

        /// A report of nothing yet.
        package init() {}
    }

    /// How the runner connects, paces and reports.
    package let options: Options
    /// Where connects, drops and progress are logged.
    package let logger: Logger

    /// A runner, not connected yet.
    package init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Runs the plan to its end; returns when every message is acknowledged
    /// (or `ackTimeout` passed after the last one).
    /// - Parameter onStart: called once connected, just before the first message (the drill's clock starts here).
    package func run(_ plan: SimulationPlan, onStart: @Sendable (Date) -> Void = { _ in }) async throws -> Report {
        let client = MQTTClient(options: options.mqtt, logger: logger)
        try client.start()
        defer { client.stop() }
        try await waitFor(timeout: 15, "the broker at \(options.mqtt.host):\(options.mqtt.port)") { client.isConnected }

        var report = Report()
        let messages = plan.messages
        var labelsAt: [Int: [String]] = [:]
        for (label, index) in plan.triggers { labelsAt[index, default: []].append(label) }
        report.progress.reserveCapacity(messages.count)

        let speed = plan.clock.speed
        let start = options.wallStart ?? Date()
        report.startedAt = start
        onStart(start)
        let progress = ProgressLine(enabled: options.progress, total: messages.count, duration: plan.clock.duration)

        var inflight: [Int32: Int] = [:]  // mid → message index, in `epoch`
        var epoch = client.epoch
        var retry: [Int] = []             // indices to publish again (their epoch ended unacknowledged)
        var holdUntil = Date.distantPast  // a disconnect fault keeps the runner away until then
        var next = 0
        var controls = plan.controls[...]
        var sinceReap = 0

        func reap() {
            let (e, mids) = client.takeAckedInEpoch()
            if e == epoch {
                for mid in mids where inflight.removeValue(forKey: mid) != nil { report.acknowledged += 1 }
            } else {
                // The connection dropped: what was in flight is gone with the old handle.
                retry.append(contentsOf: inflight.values.sorted())
                inflight.removeAll(keepingCapacity: true)
                epoch = e
            }
        }

        /// Reaps the acknowledgements; when none came, waits for the next one (or an epoch's end) instead of polling.
        func reapOrWait() async throws {
            let seen = client.acks.rings // read before the reap: an ack after it ends the wait at once
            let before = (inflight.count, retry.count)
            reap()
            guard (inflight.count, retry.count) == before else { return }
            if !client.isConnected || !retry.isEmpty {
                try await Task.sleep(for: .milliseconds(5)) // reconnecting: nothing rings until it is back
            } else {
                // The timeout bounds a wait for an ack the broker never sends (the epoch then ends and rings).
                await client.acks.next(after: seen, timeout: .milliseconds(100))
                try Task.checkCancellation()
            }
        }

        func publish(_ index: Int) async throws {
            let m = messages[index]
            while true {
                if !client.isConnected || Date() < holdUntil {
                    reap()
                    try await Task.sleep(for: .milliseconds(5))
                    continue
                }
                do {
                    let (mid, e) = try client.publishTracked(topic: m.topic, payload: m.payload, retain: m.retain)
                    if e != epoch { reap() }
                    if e == epoch { inflight[mid] = index } else { retry.append(index) }
                    return
                } catch {
                    // Not connected after all (the handle is being reinitialised): wait and try again.
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
        }

        while next < messages.count || !controls.isEmpty || !retry.isEmpty {
            try Task.checkCancellation()
            // Messages whose epoch ended go out again first, in their original order.
            if !retry.isEmpty, client.isConnected, Date() >= holdUntil {
                let again = retry.sorted()
                retry.removeAll()
                for i in again {
                    try await publish(i)
                    report.republished += 1
                }
                continue
            }
            let nextOffset = next < messages.count ? messages[next].offset : .infinity
            if let c = controls.first, c.offset <= nextOffset {
                try await sleepUntil(start.addingTimeInterval(c.offset / speed))
                controls = controls.dropFirst()
                switch c {
                case .lastWill(_, let camera, let topic, let payload, let label):
                    try await dieWithWill(camera: camera, topic: topic, payload: payload)
                    if let label { report.triggerSent[label] = Date() }
                    report.wills += 1
                case .disconnect(_, let duration):
                    reap()
                    client.interruptConnection()
                    holdUntil = Date().addingTimeInterval(duration / speed)
                    report.disconnects += 1
                    logger.notice("simulate.disconnect", metadata: ["simulate.away_s": "\(HubFormat.fixed(duration / speed, digits: 2))"])
                }
                continue
            }
            guard next < messages.count else {
                if !retry.isEmpty || !inflight.isEmpty { try await reapOrWait() }
                continue
            }
            let due = start.addingTimeInterval(nextOffset / speed)
            if due.timeIntervalSinceNow > 0.002 {
                reap()
                progress.update(sent: report.published, acked: report.acknowledged, offset: messages[max(next - 1, 0)].offset, elapsed: Date().timeIntervalSince(start))
                try await sleepUntil(due)
            }
            while inflight.count >= options.window { try await reapOrWait() }
            try await publish(next)
            let now = Date()
            if let labels = labelsAt[next] { for l in labels { report.triggerSent[l] = now } }
            report.progress.append((messages[next].offset, now))
            report.published += 1
            next += 1
            sinceReap += 1
            if sinceReap >= 512 {
                sinceReap = 0
                reap()
                progress.update(sent: report.published, acked: report.acknowledged, offset: messages[next - 1].offset, elapsed: now.timeIntervalSince(start))
            }
        }

        // The last acknowledgements (and republishing, should the connection drop now).
        let deadline = Date().addingTimeInterval(options.ackTimeout)
        while !inflight.isEmpty || !retry.isEmpty {
            if !retry.isEmpty, client.isConnected {
                let again = retry.sorted()
                retry.removeAll()
                for i in again { try await publish(i); report.republished += 1 }
            }
            if Date() > deadline {
                logger.warning("simulate.unacknowledged", metadata: ["simulate.messages": "\(inflight.count + retry.count)"])
                break
            }
            try await reapOrWait()
        }
        report.finishedAt = Date()
        progress.finish(sent: report.published, acked: report.acknowledged, elapsed: report.elapsed)
        return report
    }

    /// A camera's own connection with its status as last will, cut without a
    /// DISCONNECT: the broker publishes the will (retained), as it would for a
    /// camera that lost power.
    package func dieWithWill(camera: String, topic: String, payload: [UInt8]) async throws {
        var o = options.mqtt
        o.clientID = "\(options.mqtt.clientID)-\(camera)"
        if let password = options.accounts[camera] {
            // An embedded broker with accounts: the will is the camera's own, on its own topic.
            o.username = camera
            o.password = password
            o.clientID = camera
        }
        o.cleanSession = true
        o.subscriptions = []
        o.will = MQTTClient.Will(topic: topic, payload: payload, qos: 1, retain: true)
        let cam = MQTTClient(options: o, logger: logger)
        try cam.start()
        try await waitFor(timeout: 10, "camera \(camera)'s connection") { cam.isConnected }
        cam.abort()
    }

    /// Sleeps until the wall instant `date` (returns at once when it is past).
    package func sleepUntil(_ date: Date) async throws {
        let wait = date.timeIntervalSinceNow
        if wait > 0 { try await Task.sleep(for: .microseconds(Int64(wait * 1_000_000))) }
    }

    /// Polls `condition` every 5 ms, failing with `what` named after `timeout` seconds.
    package func waitFor(timeout: Double, _ what: String, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { throw MQTTError(.notConnected, "could not connect to \(what) within \(Int(timeout)) s") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// `  12 345 sent  12 300 acked  2 340 msg/s  scenario 00:12:30 / 01:00:00  5.2 s` on a terminal.
package struct ProgressLine {
    /// Whether to print (standard error is a terminal and progress was asked for).
    package let enabled: Bool
    /// Messages the plan holds.
    package let total: Int
    /// The scenario's length.
    package let duration: TimeInterval
    private let lastPrint = LockedDate()

    /// A progress line.
    package init(enabled: Bool, total: Int, duration: TimeInterval) {
        self.enabled = enabled
        self.total = total
        self.duration = duration
    }

    /// Rewrites the line, at most four times a second.
    package func update(sent: Int, acked: Int, offset: TimeInterval, elapsed: TimeInterval) {
        guard enabled, lastPrint.advance(by: 0.25) else { return }
        let rate = elapsed > 0 ? Double(acked) / elapsed : 0
        let line = "\r  \(sent)/\(total) sent  \(acked) acked  \(HubFormat.fixed(rate, digits: 0)) msg/s  scenario \(clockText(offset)) / \(clockText(duration))  "
            + "\(HubFormat.fixed(elapsed, digits: 1)) s elapsed   "
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Clears the line.
    package func finish(sent: Int, acked: Int, elapsed: TimeInterval) {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    /// A scenario offset as a clock, `hh:mm:ss`.
    package func clockText(_ t: TimeInterval) -> String {
        HubFormat.clock(seconds: Int(t))
    }
}

/// A date behind a lock, for the progress line's throttle.
package final class LockedDate: @unchecked Sendable {
    private let lock = NSLock()
    private var last = Date.distantPast
    /// Whether `interval` has passed since the last true answer (then moves the mark to now).
    package func advance(by interval: TimeInterval) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(last) >= interval else { return false }
        last = now
        return true
    }
}
