import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Children of the test process (hubs started as `patrolhub serve`, brokers, simulators) that
/// are still running when the test process exits are killed then: a test that fails before its
/// own cleanup must not leave a hub or a broker running after the suite.
enum ChildProcesses {
    /// Installs the exit hook once; every helper that starts a long-running child calls it.
    static func killLeftoversAtExit() { _ = installed }

    private static let installed: Void = {
        atexit { ChildProcesses.killAll() }
    }()

    /// The processes whose parent is this process, read from /proc.
    static func running() -> [pid_t] {
        let me = getpid()
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { name -> pid_t? in
            guard let pid = pid_t(name), pid != me,
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // After "pid (comm)": state, then the parent's pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, pid_t(fields[1]) == me, fields[0] != "Z" else { return nil }
            return pid
        }
    }

    /// SIGTERM to every child still running, SIGKILL after a grace second.
    static func killAll() {
        let children = running()
        guard !children.isEmpty else { return }
        FileHandle.standardError.write(Data("test run: stopping \(children.count) child process(es) left running: \(children)\n".utf8))
        for pid in children { kill(pid, SIGCONT); kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(1)
        while Date() < deadline, !running().isEmpty { usleep(20_000) }
        for pid in running() { kill(pid, SIGKILL) }
    }
}
