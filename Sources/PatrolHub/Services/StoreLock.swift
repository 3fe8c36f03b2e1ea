import Alerts
import Foundation
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// One hub per store: the running hub holds an exclusive lock on
/// `<store.path>.lock`. The pipeline keeps its windows, counters and open
/// slips in memory and numbers documents from them, so a second hub on the
/// same SQLite files would fold events into items it does not know of and
/// issue documents twice; it is refused at start instead. The lock is a POSIX
/// record lock: the kernel drops it when the process ends (`kill -9` too), and
/// other commands (`status`, `cases act`) never take it.
final class StoreLock: Sendable {
    let path: String
    private let fd: Int32

    init(storePath: String) throws {
        path = storePath + ".lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw HubError(.storeLocked, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        var lock = Self.wholeFile(F_WRLCK)
        guard fcntl(fd, F_SETLK, &lock) == 0 else {
            var holder = Self.wholeFile(F_WRLCK)
            let pid = fcntl(fd, F_GETLK, &holder) == 0 && holder.l_type != Int16(F_UNLCK) ? " (pid \(holder.l_pid))" : ""
            close(fd)
            throw HubError(.storeLocked, "another hub\(pid) serves the store \(storePath): stop it first, or give this hub its own store.path")
        }
        _ = ftruncate(fd, 0)
        let text = "\(getpid())\n"
        _ = text.withCString { write(fd, $0, strlen($0)) }
    }

    deinit { close(fd) }

    private static func wholeFile(_ type: Int32) -> flock {
        var l = flock()
        l.l_type = Int16(type)
        l.l_whence = Int16(SEEK_SET)
        l.l_start = 0
        l.l_len = 0
        return l
    }
}

extension HubError.Code {
    /// The store's lock file cannot be opened, or another hub holds it.
    static let storeLocked = Self("store_locked")
}

/// Keeps the hub's `StoreLock` for as long as the hub's services run (it is
/// the first service, so it stops last).
struct StoreLockService: Service {
    let lock: StoreLock

    func run() async throws {
        try? await gracefulShutdown()
        withExtendedLifetime(lock) {}
    }
}
