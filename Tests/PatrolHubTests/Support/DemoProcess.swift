import Foundation
@testable import PatrolHubRuntime

#if canImport(Glibc)
import Glibc
#endif

/// `patrolhub demo` started by a test, its output in a log file of the test's folder.
/// Killed when the test ends without having stopped it.
final class DemoProcess {
    let process = Process()
    let logPath: String
    private let log: FileHandle

    /// Starts `patrolhub` with `arguments` in the package root, writing stdout and stderr to `dir/demo.log`.
    init(_ arguments: [String], dir: TempDir) throws {
        logPath = dir.file("demo.log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: try patrolhubExecutable())
        process.currentDirectoryURL = packageRoot
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? log.close()
    }

    /// What the demo printed so far.
    func output() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Fails the wait at once when the demo exited, with what it printed.
    func checkRunning() throws {
        guard process.isRunning else { throw TestFailure("the demo exited (\(process.terminationStatus)): \(output())") }
    }
}
