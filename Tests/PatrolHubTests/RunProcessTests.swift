import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `runProcess`, which the CLI tests run the built hub with: a child that
/// hangs must fail its test, not stall the suite.
@Suite("runProcess")
struct RunProcessTests {
    @Test("a child that finishes: its status and all its output (stdout and stderr)")
    func finishes() throws {
        let (status, output) = try runProcess("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"], timeout: 30)
        #expect(status == 3)
        #expect(output == "out\nerr\n")
    }

    @Test("a child still running at the timeout is killed, and the call throws with what it wrote")
    func timeoutKillsTheChild() throws {
        // The child writes a line and then would sleep far longer than the timeout.
        let error = try #require(throws: ProcessTimedOut.self) {
            try runProcess("/bin/sh", ["-c", "echo started; exec sleep 30"], timeout: 1)
        }
        #expect(error.output == "started\n")
        #expect(error.timeout == 1)
        // The child is gone (reaped: signal 0 finds no such process).
        #expect(kill(error.pid, 0) == -1 && errno == ESRCH, "child \(error.pid) still exists")
    }

    @Test("the exit hook finds the children still running, and only those")
    func leftoverChildrenAreFound() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sleep")
        p.arguments = ["30"]
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        #expect(ChildProcesses.running().contains(p.processIdentifier))
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(!ChildProcesses.running().contains(p.processIdentifier))
    }
}
