import Alerts
import PatrolHubHTTP
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension PatrolHubCommand {
    struct Tokens: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue HTTP access tokens (the token file keeps their hashes only).",
            subcommands: [Add.self])

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Print a new random 256-bit token once and append its hash to the token file.",
                discussion: """
                    The token goes to standard output, once: give it to its holder (the board takes it as \
                    http://HOST:PORT/#token=TOKEN). The file gets the line 'ROLE NAME sha256:HEX' and is \
                    created readable by its owner only (0600). A running hub reads the file at start: restart it.
                    """)

            @Argument(help: "viewer, operator, supervisor or admin.") var role: String
            @Argument(help: "Who holds the token (letters, digits, '.', '_', '-', '@'); recorded as the author of their actions.") var name: String
            @Option(help: "The token file (default: http.tokens_file of --config).") var file: String?
            @Option(help: "The hub's config file, for http.tokens_file.") var config: String = "config/patrolhub.yaml"

            func run() throws {
                guard let role = Role(rawValue: role) else {
                    throw HubError.cli("unknown role '\(self.role)' (use one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                guard !name.isEmpty, name.unicodeScalars.allSatisfy(AccessTokens.nameCharacters.contains) else {
                    throw HubError.cli("name '\(name)' may only hold letters, digits, '.', '_', '-' and '@'")
                }
                let path: String
                if let file {
                    path = file
                } else {
                    let c: HubConfig
                    do { c = try HubConfig.load(file: config) } catch { throw HubError.cli("invalid config: \(error)") }
                    guard let f = c.http.tokensFile else { throw HubError.cli("\(config) sets no http.tokens_file: name the file with --file") }
                    path = f
                }
                let token = Self.newToken()
                try Self.append(AccessTokens.line(role: role, name: name, token: token), name: name, to: path)
                print(token)
                printErr("token for \(name) (\(role.rawValue)) printed above, this once; its hash was appended to \(path)")
            }

            /// 32 bytes from the system's secure generator (getrandom), as 64 hex digits.
            static func newToken() -> String {
                var g = SystemRandomNumberGenerator()
                return SHA256.hex(bytes: (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &g) })
            }

            /// Appends `line` to the token file after checking the file and the name, creating it with mode 0600.
            static func append(_ line: String, name: String, to path: String) throws {
                var existing = ""
                if FileManager.default.fileExists(atPath: path) {
                    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                        throw HubError.cli("cannot read \(path) (unreadable or not UTF-8 text)")
                    }
                    existing = text
                    let tokens: AccessTokens
                    do { tokens = try AccessTokens.parse(text, file: path, allowEmpty: true) } catch { throw HubError.cli("\(error): fix the file first") }
                    if tokens.contains(name: name) { throw HubError.cli("\(path) already holds a token for '\(name)' (remove its line to replace it)") }
                }
                let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw HubError.cli("cannot open \(path) for writing: \(String(cString: strerror(errno)))") }
                defer { close(fd) }
                var st = stat()
                if fstat(fd, &st) == 0, st.st_mode & 0o077 != 0 {
                    printErr("warning: \(path) is readable by others (mode \(String(st.st_mode & 0o777, radix: 8))): chmod 600 it")
                }
                let text = (existing.isEmpty || existing.hasSuffix("\n") ? "" : "\n") + line + "\n"
                let bytes = Array(text.utf8)
                let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                guard written == bytes.count, fsync(fd) == 0 else {
                    throw HubError.cli("cannot write \(path): \(String(cString: strerror(errno)))")
                }
            }
        }
    }
}
