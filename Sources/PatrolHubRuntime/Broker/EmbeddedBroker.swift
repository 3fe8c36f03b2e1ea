import Alerts
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A `mosquitto` child process on loopback that PatrolHub configures, starts
/// and stops: the embedded default broker of SPEC.md "Setup and operation".
///
/// The generated config turns Nagle off (`set_tcp_nodelay`), raises the
/// per-client queue (`max_queued_messages`) so a hub that is down for a
/// while loses nothing, and keeps persistence in the data folder so queued
/// messages survive a broker restart.
///
/// With `access` set (the hub always sets it) the broker authenticates every
/// client against a password file of hashed passwords and applies the ACL of
/// `BrokerAccess`; each client's id is its username, so nobody without the
/// hub's password can take over the hub's persistent session. Without it
/// (test harnesses and benchmarks only) the broker is open on loopback.
package final class EmbeddedBroker: @unchecked Sendable {
    /// How to start the broker and what it enforces.
    package struct Options: Sendable {
        /// The mosquitto binary: a name looked up on PATH, or a path.
        package var executable = "mosquitto"
        /// The plain listener's bind address.
        package var host = "127.0.0.1"
        /// 0 picks a free port.
        package var port = 0
        /// Where the broker's folder (config, log, persistence) is made.
        package var dataDir: String
        /// Messages queued per offline persistent session before the broker drops new ones.
        package var maxQueuedMessages = 1_000_000
        /// QoS 1/2 messages in flight per client.
        package var maxInflightMessages = 100
        /// Accounts and ACL; nil: an open broker (only for tests and benchmarks on loopback).
        package var access: BrokerAccess?
        /// The broker drops a PUBLISH whose payload is larger (`message_size_limit`); 0: no limit.
        package var maxPayloadBytes = 0
        /// A TLS listener for devices on the network.
        package var tls: TLSListener?

        /// Options; only `dataDir` is required.
        package init(executable: String = "mosquitto", host: String = "127.0.0.1", port: Int = 0, dataDir: String,
                     maxQueuedMessages: Int = 1_000_000, maxInflightMessages: Int = 100, access: BrokerAccess? = nil,
                     maxPayloadBytes: Int = 0, tls: TLSListener? = nil) {
            self.executable = executable
            self.host = host
            self.port = port
            self.dataDir = dataDir
            self.maxQueuedMessages = maxQueuedMessages
            self.maxInflightMessages = maxInflightMessages
            self.access = access
            self.maxPayloadBytes = maxPayloadBytes
            self.tls = tls
        }
    }

    /// A TLS listener's address and its certificate and key files (PEM).
    package struct TLSListener: Sendable {
        /// The bind address.
        package var host: String
        /// The port.
        package var port: Int
        /// The server certificate (chain), PEM.
        package var certFile: String
        /// The certificate's private key, PEM.
        package var keyFile: String

        /// A listener.
        package init(host: String, port: Int, certFile: String, keyFile: String) {
            self.host = host
            self.port = port
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    /// How the broker was asked to start.
    package let options: Options
    /// Where starts, stops and failures are logged.
    package let logger: Logger

    /// Where local clients (the hub) reach the plain listener: loopback when it binds every address.
    package var connectHost: String { Self.connectHost(for: options.host) }

    /// Where a local client reaches a listener bound to `host`: loopback for the any-address and `localhost`.
    package static func connectHost(for host: String) -> String {
        ["0.0.0.0", "::", "[::]", "", "localhost"].contains(host) ? "127.0.0.1" : host
    }
    /// The plain listener's port once started (the one picked when `options.port` is 0).
    package private(set) var port: Int = 0
    private var pid: pid_t = 0
    /// The started broker's exit, for the waits of `start`, `stop` and `kill`.
    private var exit: ChildExit?

    /// A broker, not started yet.
    package init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Absolute: mosquitto refuses a relative pid file path.
    package var folder: String {
        let dir = options.dataDir.hasPrefix("/") ? options.dataDir : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(options.dataDir)
        return ((dir as NSString).appendingPathComponent("broker") as NSString).standardizingPath
    }
    /// The generated mosquitto config.
    package var configPath: String { (folder as NSString).appendingPathComponent("mosquitto.conf") }
    /// The broker's log file.
    package var logPath: String { (folder as NSString).appendingPathComponent("mosquitto.log") }
    /// The broker's pid file.
    package var pidPath: String { (folder as NSString).appendingPathComponent("mosquitto.pid") }
    /// The generated password file (hashed passwords).
    package var passwordPath: String { (folder as NSString).appendingPathComponent("passwd") }
    /// The generated ACL file.
    package var aclPath: String { (folder as NSString).appendingPathComponent("acl") }

    /// Writes the config, starts the broker and waits until it accepts connections.
    ///
    /// A broker left running by a hub that was killed (`kill -9` leaves its
    /// child alive) is stopped first with SIGTERM, so it saves the messages
    /// it queued to its persistence file, which the new broker loads.
    package func start(timeout: Double = 10) throws {
        if port == 0 { port = options.port == 0 ? try Self.freePort() : options.port } // a restart keeps its port
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(folder, 0o700)
        stopLeftover()
        // Another program on the port is named at once: mosquitto would exit with "Address
        // already in use", or, slower to bind than the check below is to connect, leave the
        // hub talking to the other program's broker.
        try Self.refuseTaken(host: options.host, port: port, key: "broker.port")
        if let tls = options.tls { try Self.refuseTaken(host: tls.host, port: tls.port, key: "broker.tls.listen") }
        var security = "allow_anonymous true"
        var perListener = ""
        if let access = options.access {
            try access.writePasswordFile(passwordPath, mosquitto: options.executable)
            try BrokerCredentials.writePrivate(access.aclText, to: aclPath)
            security = """
                allow_anonymous \(access.allowAnonymous)
                password_file \(passwordPath)
                acl_file \(aclPath)
                """
            // A client's id is its username: nobody but the hub's accounts can use the hub's ids.
            // (mosquitto refuses anonymous clients with this on, so loopback demos go without.)
            if !access.allowAnonymous { perListener = "use_username_as_clientid true" }
        }
        var listeners = "listener \(port) \(options.host)\n\(perListener)"
        if let tls = options.tls {
            listeners += "\nlistener \(tls.port) \(tls.host)\ncertfile \(tls.certFile)\nkeyfile \(tls.keyFile)\n\(perListener)"
        }
        // message_size_limit drops a larger payload (the QoS flow completes); max_packet_size
        // disconnects a client that announces a far larger packet before the broker buffers it.
        let limits = options.maxPayloadBytes > 0
            ? "message_size_limit \(options.maxPayloadBytes)\nmax_packet_size \(options.maxPayloadBytes + (1 << 20))" : ""
        let conf = """
            # Generated by PatrolHub for its embedded broker; rewritten at every start.
            \(listeners)
            \(security)
            \(limits)
            set_tcp_nodelay true
            max_queued_messages \(options.maxQueuedMessages)
            max_inflight_messages \(options.maxInflightMessages)
            persistence true
            persistence_location \(folder)/
            autosave_interval 30
            pid_file \(pidPath)
            log_dest file \(logPath)
            log_type error
            log_type warning
            log_type notice
            \(getuid() == 0 ? "# PatrolHub runs as root: keep mosquitto from switching to its own user, which could not write here.\nuser root" : "")
            """
        try BrokerCredentials.writePrivate(conf, to: configPath)
        // The log is appended across starts: a failed start reports only what this start wrote.
        let logStart = (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? Int) ?? 0
        pid = try Self.spawn(executable: Self.resolve(options.executable).path, arguments: ["-c", configPath])
        let exit = ChildExit(pid: pid)
        self.exit = exit
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if exit.wait(timeout: 0) {
                let status = exit.reap()
                pid = 0
                self.exit = nil
                let written = FileManager.default.contents(atPath: logPath).map { $0.count > logStart ? $0.dropFirst(logStart) : Data() } ?? Data()
                let tail = String(decoding: written, as: UTF8.self).split(separator: "\n").suffix(5).joined(separator: "\n")
                if tail.contains("Address already in use") { throw HubError(.broker, Self.takenMessage(host: options.host, port: port, key: "broker.port")) }
                throw HubError(.broker, "mosquitto exited at start (status \(status)); its log (\(logPath)) says:\n\(tail)")
            }
            if Self.canConnect(host: connectHost, port: port) {
                logger.info("broker.started", metadata: ["broker.port": "\(port)", "broker.pid": "\(pid)"])
                return
            }
            // Nothing tells when mosquitto's listener is bound (a refused connect returns at
            // once, there is nothing to block on), so connecting is retried every 20 ms, a
            // bounded number of times; the pause is a wait on the child's exit, so a broker
            // that fails to start is reported at once.
            _ = exit.wait(timeout: 0.02)
        }
        kill()
        throw HubError(.broker, "mosquitto did not accept connections on \(options.host):\(port) within \(Int(timeout)) s")
    }

    /// Stops the broker with SIGTERM (it saves its persistence file) and waits.
    package func stop() {
        guard pid > 0 else { return }
        Glibc.kill(pid, SIGTERM)
        finish(timeout: 10)
        logger.info("broker.stopped")
    }

    /// Kills the broker at once (tests: a broker crash).
    package func kill() {
        guard pid > 0 else { return }
        Glibc.kill(pid, SIGKILL)
        finish(timeout: 10)
    }

    /// Waits for the signalled broker to exit, escalating to SIGKILL after `timeout` seconds, and reaps it.
    private func finish(timeout: Double) {
        if let exit {
            if !exit.wait(timeout: timeout) { Glibc.kill(pid, SIGKILL) }
            _ = exit.reap()
        }
        pid = 0
        exit = nil
    }

    /// Whether the started process is still alive.
    package var isRunning: Bool { pid > 0 && Glibc.kill(pid, 0) == 0 }

    private func stopLeftover() {
        guard let text = try? String(contentsOfFile: pidPath, encoding: .utf8), let old = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), old > 0 else { return }
        let cmdline = (try? String(contentsOfFile: "/proc/\(old)/cmdline", encoding: .utf8)) ?? ""
        guard cmdline.contains(configPath) else { return }
        logger.warning("broker.leftover_stopped", metadata: ["broker.pid": "\(old)"])
        Glibc.kill(old, SIGTERM)
        // Not this process's child (its parent, the killed hub, is gone), so no wait call can
        // block on its exit: its liveness is checked every 20 ms, for 10 s at most. This runs
        // only at a start after an unclean stop.
        for _ in 0..<500 where Glibc.kill(old, 0) == 0 { usleep(20_000) }
    }

    /// posix_spawn with stdin/stdout/stderr on /dev/null.
    package static func spawn(executable: String, arguments: [String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        // The hub ignores SIGTERM/SIGINT so ServiceLifecycle can catch them, and
        // ignored signals are inherited: give the broker default dispositions
        // and an empty mask, or it would ignore our SIGTERM.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        // A process group of its own: Ctrl-C in a terminal signals the foreground group, and the
        // broker must not die with the hub's SIGINT but be stopped by the hub, after its clients
        // have drained and disconnected (otherwise they see the connection drop mid-shutdown).
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, argv, environ)
        guard rc == 0 else { throw HubError(.broker, "could not start \(executable): \(String(cString: strerror(rc)))") }
        return pid
    }


    /// The executable `name`: a path as given, else the first match on PATH.
    package static func resolve(_ name: String) throws -> URL {
        // A folder is "executable" too (searchable): only a regular file counts.
        func isProgram(_ path: String) -> Bool {
            var st = stat()
            return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG && access(path, X_OK) == 0
        }
        if name.contains("/") {
            guard isProgram(name) else { throw HubError(.broker, "\(name) is not an executable file (install the Debian package 'mosquitto', or set broker.mosquitto_path to its mosquitto)") }
            return URL(fileURLWithPath: name)
        }
        if !name.isEmpty {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/usr/sbin"
            for dir in path.split(separator: ":") + ["/usr/sbin", "/usr/bin", "/usr/local/sbin"] {
                let candidate = "\(dir)/\(name)"
                if isProgram(candidate) { return URL(fileURLWithPath: candidate) }
            }
        }
        throw HubError(.broker, "'\(name)' not found on PATH: install the Debian package 'mosquitto' (or set broker.mosquitto_path)")
    }

    /// A port that was free a moment ago on loopback.
    package static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HubError(.broker, "socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw HubError(.broker, "could not find a free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Throws naming `key` when another program listens on `host`:`port`.
    package static func refuseTaken(host: String, port: Int, key: String) throws {
        if portTaken(host: host, port: port) { throw HubError(.broker, takenMessage(host: host, port: port, key: key)) }
    }

    /// The one line for a port another program holds; on 1883 that is often the
    /// broker Debian's `mosquitto` package starts as a service.
    package static func takenMessage(host: String, port: Int, key: String) -> String {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let service = port == 1883 ? " (often Debian's mosquitto service: systemctl disable --now mosquitto)" : ""
        return "\(key) \(address): the port is in use by another program (stop it\(service), or choose another port; 0 picks a free one)"
    }

    /// Whether binding `host`:`port` as mosquitto does (SO_REUSEADDR) fails because
    /// the address is in use. Any other failure (an address this machine does not
    /// have) is left to mosquitto to report.
    package static func portTaken(host: String, port: Int) -> Bool {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let name = ["", "localhost"].contains(host) ? "127.0.0.1" : host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard getaddrinfo(name, String(port), &hints, &list) == 0, let first = list else { return false }
        defer { freeaddrinfo(list) }
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let ai = cursor {
            cursor = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) != 0, errno == EADDRINUSE { return true }
        }
        return false
    }

    static func canConnect(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        return withUnsafePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

extension HubError.Code {
    /// The embedded broker (or one of its tools) cannot be found, started or reached.
    static let broker = Self("broker")
}

/// The exit of a child process, waited for by a thread of its own blocked in
/// `waitid` without reaping the child (its pid stays its own, never reused,
/// until `reap()`), so that stopping the broker waits on a condition with a
/// timeout instead of polling.
final class ChildExit: @unchecked Sendable {
    /// The child's process id.
    let pid: pid_t
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var exited = false

    /// Starts watching `pid`, a child of this process.
    init(pid: pid_t) {
        self.pid = pid
        let thread = Thread { [self] in
            var info = siginfo_t()
            // Returns once the child exited (or when it is not ours to wait for: ECHILD).
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == -1 && errno == EINTR {}
            condition.lock()
            exited = true
            condition.broadcast()
            condition.unlock()
        }
        thread.name = "child-exit"
        thread.start()
    }

    /// Whether the child has exited, after waiting up to `timeout` seconds for it (0: only look).
    func wait(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(max(0, timeout))
        condition.lock()
        defer { condition.unlock() }
        while !exited {
            if !condition.wait(until: deadline) { return exited }
        }
        return true
    }

    /// Reaps the child, waiting for its exit if it has not exited yet; returns its wait status.
    func reap() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return status
    }
}
