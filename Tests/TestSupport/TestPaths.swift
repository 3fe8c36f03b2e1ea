import Foundation

/// Where the tests find the package's files: one place, so that a test file can move
/// between folders or targets without counting `..` again.
package enum TestPaths {
    /// The package root (the folder of Package.swift), found from this file's own path.
    package static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `Tests/Fixtures/NAME`: the fixture files every test target shares (adapters, grid, old stores).
    package static func fixture(_ name: String) -> URL {
        packageRoot.appendingPathComponent("Tests/Fixtures/\(name)")
    }

    /// `config/NAME`: the sample district shipped with the hub.
    package static func config(_ name: String) -> URL {
        packageRoot.appendingPathComponent("config/\(name)")
    }

    /// `../shared/realworld/NAME` beside the repository (real vendor payloads), nil when absent.
    package static func realWorld(_ name: String) -> URL? {
        let url = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/realworld/\(name)", isDirectory: true)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }
}
