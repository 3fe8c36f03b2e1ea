import Alerts
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Debian's `chromium`, or a failure that says how to install it (`make
/// deps` does): the board is checked in a real browser, never skipped.
func chromiumExecutable() throws -> String {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] where FileManager.default.isExecutableFile(atPath: p) { return p }
    throw TestFailure("chromium is not installed: run `make deps` (apt-get install chromium) to render the live board in the tests")
}

/// Headless Chromium driven over the DevTools protocol on a pipe
/// (`--remote-debugging-pipe`: commands on fd 3, replies on fd 4, each a
/// NUL-terminated JSON message).
///
/// `--dump-dom` cannot check the board: its virtual-time budget waits for
/// pending requests to finish, and the board's event stream never does. Over
/// the protocol a test opens the page, waits in real time until the DOM
/// holds what it expects, changes the store, and reads the DOM again.
final class HeadlessBrowser: @unchecked Sendable {
    private let pid: pid_t
    private let commands: Int32
    private let replies: Int32
    private let profile: TempDir
    /// Replies by command id (filled by the reader thread).
    final class Replies: Sendable {
        let m = Mutex<[Int: JSONValue]>([:])
    }
    private let inbox = Replies()
    private let nextID = Mutex(0)
    private var session: String?
    private let reader: Thread

    /// Starts chromium; `environment` adds variables to its environment (e.g. `TZ`, the browser's own time zone).
    init(environment: [String: String] = [:]) throws {
        let exe = try chromiumExecutable()
        profile = TempDir("patrolhub-chromium")
        var toChrome: [Int32] = [0, 0], fromChrome: [Int32] = [0, 0]
        guard pipe(&toChrome) == 0, pipe(&fromChrome) == 0 else { throw TestFailure("pipe() failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChrome[0], 3)
        posix_spawn_file_actions_adddup2(&actions, fromChrome[1], 4)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    "--user-data-dir=\(profile.path)", "--remote-debugging-pipe", "--window-size=1400,900", "about:blank"]
        let argv = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        let rc = posix_spawn(&child, exe, &actions, nil, argv, envp)
        Glibc.close(toChrome[0])
        Glibc.close(fromChrome[1])
        guard rc == 0 else { Glibc.close(toChrome[1]); Glibc.close(fromChrome[0]); throw TestFailure("cannot start \(exe): \(rc)") }
        pid = child
        commands = toChrome[1]
        replies = fromChrome[0]
        let inbox = self.inbox
        let fd = replies
        reader = Thread {
            var buffer: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = read(fd, &chunk, chunk.count)
                if n <= 0 { break }
                buffer += chunk[0..<n]
                while let end = buffer.firstIndex(of: 0) {
                    if let message = try? JSONParser.parse(Array(buffer[0..<end])), let id = message["id"]?.doubleValue {
                        inbox.m.withLock { $0[Int(id)] = message }
                    }
                    buffer.removeFirst(end + 1)
                }
            }
        }
        reader.start()
    }

    /// Sends one command and waits for its reply's `result` (throws its `error`).
    @discardableResult
    func send(_ method: String, _ params: [String: JSONValue] = [:], timeout: Double = 30) async throws -> JSONValue {
        let id = nextID.withLock { $0 += 1; return $0 }
        var message: [String: JSONValue] = ["id": .number(Double(id)), "method": .string(method), "params": .object(JSONObject(params))]
        if let session { message["sessionId"] = .string(session) }
        var bytes = Array(message.jsonValue.serialized.utf8) + [0]
        let written = bytes.withUnsafeMutableBytes { write(commands, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw TestFailure("cannot write to chromium") }
        var reply: JSONValue?
        try await waitUntil("chromium's reply to \(method)", timeout: timeout) {
            reply = inbox.m.withLock { $0.removeValue(forKey: id) }
            return reply != nil
        }
        if let error = reply?["error"] { throw TestFailure("\(method): \(error.serialized)") }
        return reply?["result"] ?? .null
    }

    /// Opens `url` in a new tab and attaches to it.
    func open(_ url: String) async throws {
        let target = try await send("Target.createTarget", ["url": .string(url)])
        guard let id = target["targetId"]?.stringValue else { throw TestFailure("no target: \(target.serialized)") }
        let attached = try await send("Target.attachToTarget", ["targetId": .string(id), "flatten": .bool(true)])
        session = attached["sessionId"]?.stringValue
    }

    /// Evaluates a JavaScript expression in the page and returns its value.
    func evaluate(_ expression: String) async throws -> JSONValue {
        let r = try await send("Runtime.evaluate", ["expression": .string(expression), "returnByValue": .bool(true)])
        if let e = r["exceptionDetails"] { throw TestFailure("page threw: \(e.serialized)") }
        return r["result"]?["value"] ?? .null
    }

    /// The page's DOM now (`document.documentElement.outerHTML`).
    func dom() async throws -> String {
        try await evaluate("document.documentElement ? document.documentElement.outerHTML : ''").stringValue ?? ""
    }

    /// Waits until the DOM satisfies `condition` and returns it (throws after `timeout` seconds with the DOM's end).
    @discardableResult
    func waitForDOM(_ what: String, timeout: Double = 30, _ condition: (String) -> Bool) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            last = try await dom()
            if condition(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("timed out after \(timeout) s waiting for the board to show: \(what); DOM:\n\(last.prefix(4000))")
    }

    /// The families of the CJK fonts the board and the reports name (fontconfig's names).
    static let cjkFamilies = ["Noto Sans CJK", "Source Han Sans", "WenQuanYi", "Microsoft YaHei", "PingFang"]

    /// The fonts Chromium drew the text of the first element matching `selector`
    /// with (DevTools `CSS.getPlatformFontsForNode`): each family and how many
    /// glyphs it drew. A character no font has is drawn as a missing-glyph box
    /// of some fallback font, never counted under a CJK family.
    func platformFonts(of selector: String) async throws -> [(family: String, glyphs: Int)] {
        _ = try await send("DOM.enable")
        _ = try await send("CSS.enable")
        let root = try await send("DOM.getDocument", ["depth": .number(0)])
        guard let rootID = root["root"]?["nodeId"]?.doubleValue else { throw TestFailure("no document: \(root.serialized)") }
        let node = try await send("DOM.querySelector", ["nodeId": .number(rootID), "selector": .string(selector)])
        guard let id = node["nodeId"]?.doubleValue, id > 0 else { throw TestFailure("no element \(selector)") }
        let used = try await send("CSS.getPlatformFontsForNode", ["nodeId": .number(id)])
        guard case .array(let fonts)? = used["fonts"] else { throw TestFailure("no fonts for \(selector): \(used.serialized)") }
        return fonts.map { ($0["familyName"]?.stringValue ?? "?", Int($0["glyphCount"]?.doubleValue ?? 0)) }
    }

    /// How many glyphs of `selector`'s text were drawn in a CJK font of the stack.
    func cjkGlyphs(of selector: String) async throws -> (count: Int, fonts: String) {
        let fonts = try await platformFonts(of: selector)
        let count = fonts.filter { f in Self.cjkFamilies.contains { f.family.contains($0) } }.map(\.glyphs).reduce(0, +)
        return (count, fonts.map { "\($0.family) \($0.glyphs)" }.joined(separator: ", "))
    }

    /// A PNG screenshot of the page.
    func screenshot() async throws -> Data {
        let r = try await send("Page.captureScreenshot", ["format": .string("png")])
        return Data(base64Encoded: r["data"]?.stringValue ?? "") ?? Data()
    }

    func close() {
        session = nil
        Glibc.close(commands)
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        Glibc.close(replies)
        profile.cleanup()
    }
}

extension Dictionary where Key == String, Value == JSONValue {
    var jsonValue: JSONValue { .object(JSONObject(self)) }
}
