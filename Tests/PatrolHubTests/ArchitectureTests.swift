import Foundation
import Testing

/// The layering rules of docs/ARCHITECTURE.md, checked over the source tree:
/// GRDB and SQL only in `Sources/AlertsStore`, libmosquitto only in
/// `Sources/PatrolHubMQTT`. The target graph in Package.swift already keeps
/// `Alerts` free of both; this keeps the targets above it honest too.
/// And every `public`, `open` or `package` declaration carries a doc comment
/// (`scripts/check-docs.py`).
@Suite struct ArchitectureTests {
    /// Files allowed to break a rule for now, each with the rules it breaks.
    static let allowances: [String: Set<Rule>] = [:]

    enum Rule: String, Sendable {
        case grdb = "imports GRDB/GRDBSQLite or calls sqlite3_ outside Sources/AlertsStore"
        case mosquitto = "imports CMosquitto outside Sources/PatrolHubMQTT"
        case sql = "holds an SQL statement in a string literal outside Sources/AlertsStore"
    }

    struct Violation: CustomStringConvertible, Equatable {
        var file: String
        var line: Int
        var rule: Rule
        var description: String { "\(file):\(line): \(rule.rawValue)" }
    }

    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func sourcesKeepTheLayering() throws {
        let found = try Self.violations(in: Self.root.appendingPathComponent("Sources"))
        let unexpected = found.filter { !(Self.allowances[$0.file]?.contains($0.rule) ?? false) }
        #expect(unexpected.isEmpty, "layering broken:\n\(unexpected.map(\.description).joined(separator: "\n"))")
        // An allowance that no longer matches anything is stale: delete it.
        for (file, rules) in Self.allowances {
            for rule in rules {
                #expect(found.contains { $0.file == file && $0.rule == rule }, "stale allowance: \(file) no longer \(rule.rawValue)")
            }
        }
    }

    @Test func theCheckFindsEachKindOfViolation() {
        let text = """
            import GRDB
            import CMosquitto
            // SELECT * FROM comments is prose
            let q = "SELECT id FROM cases WHERE id = ?"
            let m = \"\"\"
                UPDATE cases SET state = 'closed'
                \"\"\"
            let help = "select a zone"
            """
        let v = Self.violations(file: "Sources/PatrolHub/X.swift", text: text)
        #expect(v.map(\.rule) == [.grdb, .mosquitto, .sql, .sql])
        #expect(v.map(\.line) == [1, 2, 4, 6])
        #expect(Self.violations(file: "Sources/AlertsStore/Store/X.swift", text: text).map(\.rule) == [.mosquitto])
        #expect(Self.violations(file: "Sources/PatrolHubMQTT/X.swift", text: text).map(\.rule) == [.grdb, .sql, .sql])
    }

    @Test("every public, open and package declaration in Sources has a doc comment (scripts/check-docs.py)")
    func everyPublicDeclarationIsDocumented() throws {
        let script = Self.root.appendingPathComponent("scripts/check-docs.py").path
        let run = try runProcess("/usr/bin/env", ["python3", script], timeout: 120)
        let missing = run.output.split(separator: "\n").filter { $0.hasPrefix("Sources/") }
        #expect(run.status == 0 && missing.isEmpty,
                "\(missing.count) declarations without a `///` doc comment directly above them:\n\(missing.joined(separator: "\n"))\n\(run.output.suffix(300))")
    }

    @Test("the doc-comment check names each undocumented declaration, not the documented ones")
    func theDocCheckFindsUndocumentedDeclarations() throws {
        let dir = TempDir("patrolhub-check-docs")
        defer { dir.cleanup() }
        let file = dir.write("Sample.swift", """
            public import Foundation
            /// Documented.
            public struct A {
                @inlinable
                public func undocumented() {}
                /// Documented, with an attribute between.
                @discardableResult
                public func documented() -> Int { 0 }
                // A plain comment is not a doc comment.
                public var plain: Int { 0 }
                package init() {}
                func internalNeedsNone() {}
                /** A block doc comment. */
                open class B {}
            }
            """)
        let script = Self.root.appendingPathComponent("scripts/check-docs.py").path
        let run = try runProcess("/usr/bin/env", ["python3", script, file], timeout: 60)
        #expect(run.status == 1, "\(run.output)")
        let lines = run.output.split(separator: "\n").filter { $0.contains("Sample.swift:") }
        #expect(lines.map { $0.split(separator: ":")[1] } == ["5", "10", "11"], "\(run.output)")
    }

    // MARK: - The check

    static func violations(in sources: URL) throws -> [Violation] {
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" } ?? []
        #expect(files.count > 50, "no sources found under \(sources.path)")
        let prefix = root.path + "/"
        return try files.sorted { $0.path < $1.path }.flatMap { url in
            violations(file: String(url.path.dropFirst(prefix.count)), text: try String(contentsOf: url, encoding: .utf8))
        }
    }

    static let sqlPattern = try! NSRegularExpression(pattern:
        #"\b(SELECT\s+[\w*(\\]|INSERT\s+(OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|CREATE\s+(UNIQUE\s+)?(TABLE|INDEX|TRIGGER|VIEW)\b)"#)

    static func violations(file: String, text: String) -> [Violation] {
        let inStore = file.hasPrefix("Sources/AlertsStore/")
        let inMQTT = file.hasPrefix("Sources/PatrolHubMQTT/")
        var out: [Violation] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let code = line.trimmingCharacters(in: .whitespaces)
            if !inStore, code.hasPrefix("import GRDB") || code.hasPrefix("@testable import GRDB") || code.range(of: #"\bsqlite3_\w+\("#, options: .regularExpression) != nil && !code.hasPrefix("//") {
                out.append(Violation(file: file, line: i + 1, rule: .grdb))
            }
            if !inMQTT, code.hasPrefix("import CMosquitto") || code.hasPrefix("@testable import CMosquitto") {
                out.append(Violation(file: file, line: i + 1, rule: .mosquitto))
            }
        }
        if !inStore {
            for literal in stringLiterals(text) {
                let range = NSRange(literal.text.startIndex..., in: literal.text)
                if let m = sqlPattern.firstMatch(in: literal.text, range: range) {
                    let before = literal.text[..<(Range(m.range, in: literal.text)!.lowerBound)]
                    out.append(Violation(file: file, line: literal.line + before.filter { $0 == "\n" }.count, rule: .sql))
                }
            }
        }
        return out.sorted { ($0.line, $0.rule.rawValue) < ($1.line, $1.rule.rawValue) }
    }

    /// The string literals of Swift source (single-line, multi-line and raw), with
    /// the line each starts on; comments are skipped. Interpolations stay in the text.
    static func stringLiterals(_ text: String) -> [(text: String, line: Int)] {
        let c = Array(text.unicodeScalars)
        var out: [(String, Int)] = []
        var i = 0, line = 1
        func at(_ k: Int, _ s: String) -> Bool {
            let u = Array(s.unicodeScalars)
            return k + u.count <= c.count && Array(c[k..<k + u.count]) == u
        }
        while i < c.count {
            if c[i] == "\n" { line += 1; i += 1; continue }
            if at(i, "//") { while i < c.count, c[i] != "\n" { i += 1 }; continue }
            if at(i, "/*") {
                i += 2
                while i < c.count, !at(i, "*/") { if c[i] == "\n" { line += 1 }; i += 1 }
                i += 2
                continue
            }
            var hashes = 0
            while i + hashes < c.count, c[i + hashes] == "#" { hashes += 1 }
            guard i + hashes < c.count, c[i + hashes] == "\"" else { i += max(hashes, 1); continue }
            let multi = at(i + hashes, "\"\"\"")
            let close = (multi ? "\"\"\"" : "\"") + String(repeating: "#", count: hashes)
            var k = i + hashes + (multi ? 3 : 1)
            let startLine = line
            var body = String.UnicodeScalarView()
            while k < c.count, !at(k, close) {
                if c[k] == "\\", hashes == 0, k + 1 < c.count { body.append(c[k]); body.append(c[k + 1]); k += 2; continue }
                if c[k] == "\n" { line += 1; if !multi { break } }
                body.append(c[k])
                k += 1
            }
            out.append((String(body), startLine))
            i = k + close.unicodeScalars.count
        }
        return out
    }
}
