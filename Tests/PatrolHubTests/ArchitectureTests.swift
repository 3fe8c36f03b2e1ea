import Foundation
import Testing

/// The layering rules of docs/ARCHITECTURE.md, checked over the source tree:
/// GRDB only in `Sources/AlertsStore`, PostgresNIO only in `Sources/AlertsStorePostgres`,
/// SQL only in those two store targets, libmosquitto only in
/// `Sources/PatrolHubMQTT`, and there only in its one client (`MQTTClient.swift`). The target graph in Package.swift already keeps
/// `Alerts` free of both; this keeps the targets above it honest too.
/// And the "one of each" rules: one error type (`HubError`), one JSON parser
/// (`JSONParser`, so no `JSONSerialization`), one formatting helper
/// (`HubFormat`, so no `String(format:)` elsewhere).
/// And every `public`, `open` or `package` declaration carries a doc comment
/// (`scripts/check-docs.py`).
@Suite struct ArchitectureTests {
    /// Files (or folders, ending in `/`) allowed to break a rule for now, each
    /// with the rules it breaks and why the allowance goes away.
    static let allowances: [String: Set<Rule>] = [:]

    enum Rule: String, Sendable {
        case grdb = "imports GRDB/GRDBSQLite or calls sqlite3_ outside Sources/AlertsStore"
        case postgres = "imports PostgresNIO outside Sources/AlertsStorePostgres"
        case mosquitto = "imports CMosquitto outside Sources/PatrolHubMQTT"
        case mosquittoCall = "calls mosquitto_ outside Sources/PatrolHubMQTT/MQTTClient.swift (one libmosquitto wrapper)"
        case sql = "holds an SQL statement in a string literal outside the store targets (Sources/AlertsStore, Sources/AlertsStorePostgres)"
        case errorType = "declares an Error type other than HubError (add a HubError.Code instead)"
        case jsonSerialization = "uses JSONSerialization (JSONParser and JSONValue are the hub's JSON)"
        case stringFormat = "uses String(format:) outside HubFormat (Sources/Alerts/Support/HubFormat.swift)"
    }

    /// Whether `file` is covered by the allowance `key` (a file, or a folder ending in `/`).
    static func allowance(_ key: String, covers file: String) -> Bool {
        key.hasSuffix("/") ? file.hasPrefix(key) : file == key
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
        let unexpected = found.filter { v in
            !Self.allowances.contains { Self.allowance($0.key, covers: v.file) && $0.value.contains(v.rule) }
        }
        #expect(unexpected.isEmpty, "layering broken:\n\(unexpected.map(\.description).joined(separator: "\n"))")
        // An allowance that no longer matches anything is stale: delete it.
        for (file, rules) in Self.allowances {
            for rule in rules {
                #expect(found.contains { Self.allowance(file, covers: $0.file) && $0.rule == rule }, "stale allowance: \(file) no longer \(rule.rawValue)")
            }
        }
    }

    @Test func theCheckFindsEachKindOfViolation() {
        let text = """
            import GRDB
            import CMosquitto
            import PostgresNIO
            // SELECT * FROM comments is prose, and so is mosquitto_publish(m)
            let q = "SELECT id FROM cases WHERE id = ?"
            let m = \"\"\"
                UPDATE cases SET state = 'closed'
                \"\"\"
            let help = "select a zone"
            let rc = mosquitto_loop_read(m, 1)
            """
        let v = Self.violations(file: "Sources/PatrolHub/X.swift", text: text)
        #expect(v.map(\.rule) == [.grdb, .mosquitto, .postgres, .sql, .sql, .mosquittoCall])
        #expect(v.map(\.line) == [1, 2, 3, 5, 7, 10])
        #expect(Self.violations(file: "Sources/AlertsStore/Store/X.swift", text: text).map(\.rule) == [.mosquitto, .postgres, .mosquittoCall])
        #expect(Self.violations(file: "Sources/AlertsStorePostgres/X.swift", text: text).map(\.rule) == [.grdb, .mosquitto, .mosquittoCall])
        #expect(Self.violations(file: "Sources/PatrolHubMQTT/X.swift", text: text).map(\.rule) == [.grdb, .postgres, .sql, .sql, .mosquittoCall])
        #expect(Self.violations(file: "Sources/PatrolHubMQTT/MQTTClient.swift", text: text).map(\.rule) == [.grdb, .postgres, .sql, .sql])
    }

    @Test func theCheckFindsEachKindOfDuplicateConcern() {
        let text = """
            /// A doc comment may name JSONSerialization and String(format:) and `struct E: Error`.
            public struct ParseError: Error, CustomStringConvertible { var description: String }
            enum Failure: Swift.Error { case x }
            extension Refusal: Error {}
            struct Fine: Sendable, Equatable {}
            struct APIError: HTTPResponseError {}
            let o = try JSONSerialization.jsonObject(with: data)
            let s = String(format: "%02d", n)
            """
        let v = Self.violations(file: "Sources/Alerts/X.swift", text: text)
        #expect(v.map(\.rule) == [.errorType, .errorType, .errorType, .jsonSerialization, .stringFormat])
        #expect(v.map(\.line) == [2, 3, 4, 7, 8])
        #expect(Self.violations(file: "Sources/Alerts/Support/HubError.swift", text: text).map(\.rule) == [.jsonSerialization, .stringFormat])
        #expect(Self.violations(file: "Sources/Alerts/Support/HubFormat.swift", text: text).map(\.rule) == [.errorType, .errorType, .errorType, .jsonSerialization])
        #expect(Self.allowance("Sources/PatrolHubBench/", covers: "Sources/PatrolHubBench/SimBenchmark.swift"))
        #expect(!Self.allowance("Sources/PatrolHubBench/", covers: "Sources/PatrolHub/CLI/Bench.swift"))
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

    /// A type declared with `Error` among its conformances: `struct X: Error`,
    /// `enum Y: Sendable, Swift.Error`, `extension Z: Error`.
    static let errorTypePattern = try! NSRegularExpression(pattern:
        #"^(?:(?:public|package|internal|private|fileprivate|final|indirect)\s+)*(?:struct|enum|class|actor|extension)\s+[\w.]+(?:<[^>]*>)?\s*:[^{]*\b(?:Swift\.)?Error\b"#)

    static func violations(file: String, text: String) -> [Violation] {
        let inStore = file.hasPrefix("Sources/AlertsStore/")
        let inPostgresStore = file.hasPrefix("Sources/AlertsStorePostgres/")
        let inMQTT = file.hasPrefix("Sources/PatrolHubMQTT/")
        let inClient = file == "Sources/PatrolHubMQTT/MQTTClient.swift"
        var out: [Violation] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let code = line.trimmingCharacters(in: .whitespaces)
            if !inStore, code.hasPrefix("import GRDB") || code.hasPrefix("@testable import GRDB") || code.range(of: #"\bsqlite3_\w+\("#, options: .regularExpression) != nil && !code.hasPrefix("//") {
                out.append(Violation(file: file, line: i + 1, rule: .grdb))
            }
            if !inPostgresStore, code.hasPrefix("import PostgresNIO") || code.hasPrefix("@testable import PostgresNIO") {
                out.append(Violation(file: file, line: i + 1, rule: .postgres))
            }
            if !inMQTT, code.hasPrefix("import CMosquitto") || code.hasPrefix("@testable import CMosquitto") {
                out.append(Violation(file: file, line: i + 1, rule: .mosquitto))
            }
            guard !code.hasPrefix("//") else { continue }
            let whole = NSRange(code.startIndex..., in: code)
            if file != "Sources/Alerts/Support/HubError.swift", errorTypePattern.firstMatch(in: code, range: whole) != nil {
                out.append(Violation(file: file, line: i + 1, rule: .errorType))
            }
            if code.contains("JSONSerialization") {
                out.append(Violation(file: file, line: i + 1, rule: .jsonSerialization))
            }
            if file != "Sources/Alerts/Support/HubFormat.swift", code.contains("String(format:") {
                out.append(Violation(file: file, line: i + 1, rule: .stringFormat))
            }
            if !inClient, !code.hasPrefix("//"), code.range(of: #"\bmosquitto_\w+\("#, options: .regularExpression) != nil {
                out.append(Violation(file: file, line: i + 1, rule: .mosquittoCall))
            }
        }
        if !inStore, !inPostgresStore {
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
