import Foundation

/// A wake-up one side rings after a commit and the other side waits on,
/// instead of polling: the ingest path rings the hub's inbox bell after each
/// committed group, the pipeline rings its outcome bell after each commit.
///
/// Rings are counted, never lost: a waiter reads `rings` before it looks at
/// the store, then waits until the count moved past what it read, so a ring
/// that came while it was working ends its next wait at once. A dedicated
/// thread waits with `wait(after:timeout:)` (a condition variable); a task
/// waits with `next(after:timeout:)` (a continuation, never blocking a
/// cooperative thread). Any number of waiters; each ring wakes them all.
/// Owned by the hub's services (`Hub`), never global.
public final class Doorbell: @unchecked Sendable {
    // Everything below is guarded by `condition`.
    private let condition = NSCondition()
    private var count: UInt64 = 0
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    /// Async waiters released (timeout, cancellation) before they were registered.
    private var released: Set<Int> = []
    private var nextID = 0

    /// Makes a bell that was never rung.
    public init() {}

    /// How many times the bell rang so far: read it before looking at what the bell guards.
    public var rings: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return count
    }

    /// Wakes every waiter, and ends at once the next wait of those that read `rings` before.
    public func ring() {
        condition.lock()
        count &+= 1
        let woken = Array(waiters.values)
        waiters.removeAll()
        condition.broadcast()
        condition.unlock()
        for w in woken { w.resume() }
    }

    /// Blocks the calling thread until the bell rang past `seen`, or for
    /// `timeout` seconds at most (nil: no limit). For dedicated threads only
    /// (the pipeline's), never for a task.
    public func wait(after seen: UInt64, timeout: TimeInterval?) {
        let deadline = timeout.map { Date().addingTimeInterval(max(0, $0)) }
        condition.lock()
        defer { condition.unlock() }
        while count == seen {
            if let deadline {
                if !condition.wait(until: deadline) { return }
            } else {
                condition.wait()
            }
        }
    }

    /// Suspends the calling task until the bell rang past `seen`, `timeout`
    /// passed, or the task is cancelled.
    public func next(after seen: UInt64, timeout: Duration) async {
        let id: Int = {
            condition.lock()
            defer { condition.unlock() }
            nextID += 1
            return nextID
        }()
        let timer = Task { [self] in
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            release(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                condition.lock()
                let now = count != seen || released.remove(id) != nil
                if !now { waiters[id] = c }
                condition.unlock()
                if now { c.resume() }
            }
        } onCancel: {
            release(id)
        }
        timer.cancel()
        await timer.value
        forget(id)
    }

    /// Drops what is left of one async wait.
    private func forget(_ id: Int) {
        condition.lock()
        released.remove(id)
        condition.unlock()
    }

    /// Ends one async wait now (timeout or cancellation).
    private func release(_ id: Int) {
        condition.lock()
        let c = waiters.removeValue(forKey: id)
        if c == nil { released.insert(id) }
        condition.unlock()
        c?.resume()
    }
}
