import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How the previous process's pipeline stopped, as far as it could say.
public enum PipelineStop: Sendable, Equatable {
    /// Nothing recorded: a clean shutdown, or a stop that left no trace (`kill -9`, power loss).
    case unknown
    /// The pipeline thread trapped (or faulted) while it was processing a batch.
    case trap(signal: Int32)
    /// The pipeline ended on an error it reported (the store refused a write, …): not a crash.
    case error
}

/// Records, in a one-byte file beside the store, whether the process died of a
/// trap while the pipeline was processing a batch. That is what tells a
/// poison message (every attempt traps) from a `kill -9` (which leaves no
/// trace): after a trap the batch is isolated at once; without one it is
/// first simply retried.
///
/// A signal handler for SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE and SIGABRT
/// (Swift's runtime traps, stack overflows, faults in C code) writes the byte
/// when the signal is raised on the thread that is inside a pipeline batch,
/// then hands the signal to whatever handled it before (Swift's backtracer or
/// the default action), so the process dies as it would have. The handler
/// only loads globals and calls `write`, `sigaction` and `raise`
/// (async-signal-safe). A stack overflow needs an alternate signal stack:
/// `prepareThread()` gives the calling thread one.
public final class TrapRecorder: Sendable {
    /// The evidence file.
    public let path: String
    /// What the previous process left in the file.
    public let previousStop: PipelineStop
    private let fd: Int32

    /// Opens (or creates, mode 0600) the evidence file, reads what the previous
    /// process left there, clears it and installs the signal handlers.
    public init(evidenceFile path: String) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HubError.trapRecorder(path: path, errno: errno) }
        _ = fchmod(fd, 0o600)
        var byte: UInt8 = 0
        let n = pread(fd, &byte, 1, 0)
        switch (n, byte) {
        case (1, UInt8(ascii: "E")): previousStop = .error
        case (1, let b) where b != 0 && b != UInt8(ascii: "0"): previousStop = .trap(signal: Int32(b))
        default: previousStop = .unknown
        }
        // The byte is written in place later (no new block is needed, even on a full disk).
        var zero = UInt8(ascii: "0")
        _ = pwrite(fd, &zero, 1, 0)
        self.fd = fd
        Self.install(fd: fd)
    }

    deinit {
        #if canImport(Glibc)
        if trapEvidenceFD.load(ordering: .relaxed) == fd { trapEvidenceFD.store(-1, ordering: .relaxed) }
        #endif
        close(fd)
    }

    /// Records that the pipeline stopped on an error it threw (not a crash).
    public func recordErrorExit() {
        var byte = UInt8(ascii: "E")
        _ = pwrite(fd, &byte, 1, 0)
    }

    /// Gives the calling thread an alternate signal stack (once), so that a
    /// stack overflow on it still runs the handler.
    public static func prepareThread() {
        #if canImport(Glibc)
        var current = stack_t()
        guard sigaltstack(nil, &current) == 0, current.ss_flags & Int32(SS_DISABLE) != 0 else { return }
        let size = 64 * 1024
        var stack = stack_t()
        stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16) // kept for the thread's life
        stack.ss_size = size
        stack.ss_flags = 0
        _ = sigaltstack(&stack, nil)
        #endif
    }

    /// Marks the calling thread as inside a batch (a trap on it is recorded) until `body` returns.
    @inline(__always)
    package static func inBatch<T>(_ body: () throws -> T) rethrows -> T {
        #if canImport(Glibc)
        trapBusyThread.store(UInt(pthread_self()), ordering: .relaxed)
        defer { trapBusyThread.store(0, ordering: .relaxed) }
        #endif
        return try body()
    }

    private static func install(fd: Int32) {
        #if canImport(Glibc)
        trapEvidenceFD.store(fd, ordering: .relaxed)
        installOnce.withLock { installed in
            guard !installed else { return }
            installed = true
            for signal in trapSignals {
                var action = sigaction()
                action.__sigaction_handler.sa_handler = pipelineTrapHandler
                action.sa_flags = Int32(SA_ONSTACK)
                sigemptyset(&action.sa_mask)
                _ = sigaction(signal, &action, previousTrapActions + Int(signal))
            }
        }
        #endif
    }

    private static let installOnce = Mutex(false)
}

extension HubError.Code {
    /// The pipeline's trap evidence file cannot be opened (`context.file`, `context.values["errno"]`).
    public static let trapRecorder = Self("trap_recorder")
}

extension HubError {
    /// The pipeline's trap evidence file at `path` cannot be opened: `errno` says why.
    static func trapRecorder(path: String, errno: Int32, fileID: StaticString = #fileID, line: UInt = #line) -> HubError {
        let why = String(cString: strerror(errno))
        return HubError(.trapRecorder, "cannot open the pipeline's trap evidence file \(path): \(why)",
                        context: Context(file: path, values: ["errno": String(errno)]), fileID: fileID, line: line)
    }
}

#if canImport(Glibc)
private let trapSignals: [Int32] = [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGABRT]
private let trapEvidenceFD = Atomic<Int32>(-1)
/// The `pthread_t` of the thread inside a batch, 0 when none.
private let trapBusyThread = Atomic<UInt>(0)
/// The actions replaced by `install`, indexed by signal number (written once, before any handler runs).
nonisolated(unsafe) private let previousTrapActions: UnsafeMutablePointer<sigaction> = {
    let p = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
    p.initialize(repeating: sigaction(), count: 65)
    return p
}()

private func pipelineTrapHandler(_ signal: Int32) {
    let busy = trapBusyThread.load(ordering: .relaxed)
    let fd = trapEvidenceFD.load(ordering: .relaxed)
    if busy != 0, busy == UInt(pthread_self()), fd >= 0 {
        var byte = UInt8(truncatingIfNeeded: signal)
        _ = pwrite(fd, &byte, 1, 0)
    }
    // The previous action takes over: a fault re-runs its instruction and faults again;
    // a raised signal (abort, a breakpoint trap) is raised again, pending until this returns.
    _ = sigaction(signal, previousTrapActions + Int(signal), nil)
    if signal == SIGABRT || signal == SIGTRAP { _ = raise(signal) }
}
#endif
