import Foundation

/// The hub's configuration (`config/patrolhub.yaml`), validated once at start.
///
/// Every field has a default; relative paths are resolved against the
/// config file's folder, so a config folder can be moved as a whole.
public struct HubConfig: Sendable {
    /// How PatrolHub reaches its broker.
    public struct Broker: Sendable {
        /// `embedded`: the hub starts its own mosquitto; `external`: it connects to one run elsewhere.
        public enum Mode: String, Sendable, CaseIterable { case embedded, external }
        /// Whether the hub runs its own broker (`broker.mode`).
        public var mode: Mode = .embedded
        /// External: the broker's address. Embedded: the address its plain listener binds (loopback by default).
        public var host: String = "127.0.0.1"
        /// For `embedded`, 0 picks a free port at start.
        public var port: Int = 1883
        /// The hub's MQTT client id; its persistent session (what the broker queues while the hub is away) is keyed by it.
        public var clientID: String = "patrolhub"
        /// MQTT keepalive in seconds: how soon the broker notices a dead hub.
        public var keepalive: Int = 30
        /// External: the account the hub subscribes with; nil: anonymous.
        public var username: String?
        /// External: the password of `username`.
        public var password: String?
        /// External: the outcome publisher's username (default `username`); with mosquitto's
        /// `use_username_as_clientid` it must differ from `username` (config/mosquitto/).
        public var publisherUsername: String?
        /// External: the CA that signs the broker's certificate (PEM); set, the hub connects over TLS.
        public var caFile: String?
        /// External: the hub's client certificate (PEM), for brokers that require one.
        public var certFile: String?
        /// External: the private key of `certFile` (PEM).
        public var keyFile: String?
        /// The `mosquitto` executable for the embedded broker.
        public var mosquittoPath: String = "mosquitto"
        /// How many messages the embedded broker queues per offline client.
        public var maxQueuedMessages: Int = 1_000_000
        /// QoS 1 messages the broker keeps in flight to one client.
        public var maxInflightMessages: Int = 100
        /// Embedded: let clients connect without a username (refused unless every listener is on loopback).
        public var allowAnonymous: Bool = false
        /// Embedded: the broker accounts (`ROLE USERNAME PASSWORD` per line); nil: `{data_dir}/broker/credentials`
        /// (`HubConfig.brokerCredentialsFile`).
        public var credentialsFile: String?
        /// Embedded: a TLS listener for devices on the network (`broker.tls.listen` with `cert_file`/`key_file`).
        public var tlsListenHost: String?
        /// Embedded: the port of the TLS listener.
        public var tlsListenPort: Int?
        /// External: the MQTT shared-subscription group (`broker.shared_group`); set, the hub subscribes to
        /// each filter as `$share/NAME/filter`, so the broker hands each message to one hub of the group.
        /// Nil: plain subscriptions, every message to this hub.
        public var sharedGroup: String?
        /// The defaults: an embedded broker on 127.0.0.1:1883.
        public init() {}

        /// The longest `shared_group` accepted, in UTF-8 bytes.
        public static let maxSharedGroupBytes = 64

        /// Why `name` cannot be a shared-subscription group, or nil when it can: MQTT forbids
        /// '/', '+' and '#' in a share name; whitespace and control characters are refused too
        /// (invisible or line-breaking characters in a name the broker's config and logs show; a format
        /// character such as a zero-width space counts as a control character here).
        public static func sharedGroupProblem(_ name: String) -> String? {
            if name.isEmpty || name.utf8.count > maxSharedGroupBytes { return "must be 1 to \(maxSharedGroupBytes) bytes" }
            let refused = name.unicodeScalars.contains { s in
                "/+#".unicodeScalars.contains(s) || s.properties.isWhitespace
                    || s.properties.generalCategory == .control || s.properties.generalCategory == .format
            }
            return refused ? "must not contain '/', '+', '#', whitespace or control characters (it becomes $share/NAME/… in each subscription)" : nil
        }

        /// Whether `host` can be the embedded broker's plain listener: a dotted IPv4 address as
        /// `inet_pton` reads one (four parts 0–255, no leading zeros that some readers take as
        /// octal) or `localhost`.
        public static func isIPv4Listen(_ host: String) -> Bool {
            var address = in_addr()
            return host == "localhost" || inet_pton(AF_INET, host, &address) == 1
        }

        /// The filters the hub subscribes with: `$share/NAME/filter` for each of `filters` in a
        /// group (`sharedGroup`), else `filters` unchanged. Received messages carry their real topic either way.
        public func subscriptionFilters(_ filters: [String]) -> [String] {
            guard let sharedGroup else { return filters }
            return filters.map { "$share/\(sharedGroup)/\($0)" }
        }

        /// Whether the embedded broker listens on loopback only.
        public var listensOnLoopbackOnly: Bool {
            HTTP.isLoopback(host) && (tlsListenHost.map(HTTP.isLoopback) ?? true)
        }
    }

    /// The dispute store: SQLite (the default), or PostgreSQL (`store.kind: postgres`).
    public struct Store: Sendable {
        /// SQLite's `synchronous` setting for the store (`store.synchronous`).
        public enum Synchronous: String, Sendable, CaseIterable { case normal, full }
        /// Where the pipeline's outcomes go (`store.kind`).
        public enum Kind: String, Sendable, CaseIterable {
            /// The store file `path` (with its inbox beside it).
            case sqlite
            /// The PostgreSQL database at `url`; the hub's inbox stays a SQLite file beside `path` (docs/POSTGRES.md).
            case postgres
        }
        /// `sqlite` (default) or `postgres`.
        public var kind: Kind = .sqlite
        /// The PostgreSQL store's URL (`store.url`, `postgres://user@host:port/database`, no password), with `kind: postgres`.
        public var url: PostgresStoreURL?
        /// A file whose first line is the PostgreSQL role's password (`store.password_file`); without it,
        /// `PATROLHUB_STORE_PASSWORD`, else none.
        public var passwordFile: String?
        /// The store file (`store.path`); the inbox file sits beside it.
        public var path: String = "data/patrolhub.sqlite"
        /// `normal` (default) survives a killed process, the promise the crash test checks;
        /// `full` also survives power loss, at one fsync per group commit (BENCHMARKS.md).
        public var synchronous: Synchronous = .normal
        /// Days the inbox keeps processed messages before the housekeeper deletes them.
        public var inboxRetentionDays: Int = 7
        /// SQLite's memory: page caches, the store file's map and the connections
        /// are sized from it (`store.memory_mib`; split: `DisputeStore.MemoryBudget`).
        public var memoryMiB: Int = Store.defaultMemoryMiB
        /// 256 MiB: the pipeline writer's cache (96 MiB) is larger than the 64 MiB every
        /// connection had before, and the rest is sized for readers that touch a few pages
        /// per request; the pipeline benchmark runs as fast as before (docs/MEMORY.md).
        public static let defaultMemoryMiB = 256
        /// The `store.memory_mib` values accepted: below 64 MiB the caches thrash, above 64 GiB is a typo.
        public static let memoryMiBRange = 64...65_536
        /// The defaults: `data/patrolhub.sqlite`, synchronous normal, 256 MiB.
        public init() {}
    }

    /// How long the store keeps what it no longer needs (docs/STORAGE.md), and
    /// how the housekeeper deletes it: in steps of at most `chunkRows` rows per
    /// transaction, a pass every `intervalMinutes`.
    public struct Retention: Sendable {
        /// Event keys (the duplicate check) are kept this long after the newest event
        /// time; an older event is refused as `too_old` (at least the dedup window
        /// plus the lateness bound plus an hour is kept, whatever this says).
        public var eventKeysHours: Int = 72
        /// Days dead letters are kept for inspection and replay.
        public var deadLettersDays: Int = 90
        /// Closed cases, slips and risk items (with their links and transitions),
        /// ended silences and patrol slots and records, after they closed.
        public var closedDays: Int = 400
        /// Minutes between two housekeeping passes.
        public var intervalMinutes: Int = 60
        /// Rows deleted per transaction at most, so a pass never holds the writer long.
        public var chunkRows: Int = 2000
        /// The defaults: keys 72 h, dead letters 90 days, closed records 400 days, hourly passes.
        public init() {}
    }

    /// Limits on what is accepted.
    public struct Limits: Sendable {
        /// Larger payloads are dead-lettered unread (`limits.max_payload_bytes`), bounding what one message can cost.
        public var maxPayloadBytes: Int = 256 * 1024
        /// Events further in the future than this are dead-lettered as `clock_skew`.
        public var maxClockSkewSeconds: Int = 300
        /// Open risk items the rules engine holds at most (`limits.max_open_items`): beyond it
        /// (a flood of distinct sources) the items seen least recently are forgotten (docs/MEMORY.md).
        public var maxOpenItems: Int = RiskEngine.defaultMaxOpenItems
        /// Occurrences one group window (zone × category) keeps at most (`limits.max_window_occurrences`):
        /// a flood into one window counts at most this many towards a new slip (docs/MEMORY.md).
        public var maxWindowOccurrences: Int = RiskEngine.defaultMaxWindowOccurrences
        /// The defaults: 256 KiB payloads, 300 s skew, the engine's default caps.
        public init() {}
    }

    /// The pipeline's batching: at most this many inbox rows per transaction
    /// (and at most 64 MiB of payloads). Live traffic arrives in small batches
    /// whatever the cap; the cap matters when the hub catches up on a backlog,
    /// where every changed risk item, slip and case is written and published
    /// once per batch: 20 000 rows is ~0.2 s of one core per transaction and
    /// ran 1.3× the events/s of 5000 (BENCHMARKS.md §4).
    public struct Pipeline: Sendable {
        /// Inbox rows per pipeline transaction at most (`pipeline.batch_size`).
        public var batchSize: Int = 20_000
        /// The default batch of 20 000 rows.
        public init() {}
    }

    /// The dispatch-room HTTP interface (API, stream, live board).
    public struct HTTP: Sendable {
        /// `false` runs the hub without its HTTP server (`http.enabled`).
        public var enabled: Bool = true
        /// The address to listen on (`http.listen`, `HOST:PORT`); port 0 picks a free port at start.
        public var host: String = "127.0.0.1"
        /// The port to listen on; 0 picks a free port at start.
        public var port: Int = 8080
        /// Where `host` and `port` came from, as a failure to listen names it: the
        /// config key, or the command-line flag that overrode it (`--http`).
        public var listenSetBy = "http.listen"
        /// Bearer tokens with roles (`http.tokens_file`); without one only loopback is served, without auth.
        public var tokensFile: String?
        /// Extra names the server answers to (`http.allowed_hosts`: `NAME` for any port, `NAME:PORT`
        /// for one); loopback names and the listen address are always allowed. Other `Host` headers
        /// are refused (DNS rebinding).
        public var allowedHosts: [String] = []
        /// HTTPS (`http.tls.cert_file`, `http.tls.key_file`, PEM); nil: plain HTTP.
        public var tlsCertFile: String?
        /// The private key of `tlsCertFile` (PEM).
        public var tlsKeyFile: String?
        /// Open `/api/v1/stream` clients at most (`http.max_stream_clients`); beyond, 503 with Retry-After.
        public var maxStreamClients: Int = 200
        /// Open HTTP connections at most (`http.max_connections`): beyond, new
        /// connections wait in the kernel's accept queue instead of taking file
        /// descriptors the hub needs (a process out of them dies). Lowered at
        /// start to what the process's descriptor limit leaves room for.
        public var maxConnections: Int = 1000
        /// `/healthz` reports a pipeline with pending work and no progress for this long as stalled (`http.stall_seconds`).
        public var stallSeconds: Int = 60
        /// A connection with no request in progress is closed after this long (`http.idle_timeout_seconds`).
        public var idleTimeoutSeconds: Int = 60
        /// The defaults: plain HTTP on 127.0.0.1:8080, no tokens (loopback only).
        public init() {}

        /// `http` or `https`.
        public var scheme: String { tlsCertFile == nil ? "http" : "https" }

        /// Checks one `http.allowed_hosts` entry (`NAME`, `NAME:PORT`, `[V6]`, `[V6]:PORT`); nil when valid, else the problem.
        public static func allowedHostProblem(_ entry: String) -> String? {
            if entry.isEmpty { return "an empty name" }
            if entry.contains("://") || entry.contains("/") { return "'\(entry)': give a host name, not a URL" }
            let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]".unicodeScalars)
            guard entry.unicodeScalars.allSatisfy(allowed.contains) else { return "'\(entry)' holds a character a host name cannot" }
            if entry.hasPrefix("[") {
                guard let close = entry.firstIndex(of: "]") else { return "'\(entry)': an IPv6 address needs its closing ']'" }
                let rest = entry[entry.index(after: close)...]
                if !rest.isEmpty, !(rest.hasPrefix(":") && Int(rest.dropFirst()).map { (1...65535).contains($0) } == true) {
                    return "'\(entry)': expected [ADDRESS] or [ADDRESS]:PORT"
                }
                return nil
            }
            let parts = entry.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count > 2 { return "'\(entry)': write an IPv6 address in brackets, e.g. [fd00::1]" }
            if parts[0].isEmpty { return "'\(entry)': the name is missing" }
            if parts.count == 2, Int(parts[1]).map({ (1...65535).contains($0) }) != true { return "'\(entry)': the port must be a number from 1 to 65535" }
            return nil
        }

        /// `HOST:PORT` as configured (IPv6 in brackets).
        public var listen: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

        /// Whether `host` is a loopback address (127.0.0.0/8, ::1 or localhost),
        /// the only addresses served without a token file.
        public var isLoopback: Bool { Self.isLoopback(host) }

        /// Whether `host` names a loopback address (127.0.0.0/8, ::1 or localhost).
        public static func isLoopback(_ host: String) -> Bool {
            let h = host.lowercased()
            if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
            let parts = h.split(separator: ".", omittingEmptySubsequences: false)
            return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
        }

        /// Splits `HOST:PORT` (`[v6]:PORT` for IPv6); nil when malformed.
        public static func parseListen(_ text: String) -> (host: String, port: Int)? {
            let host: Substring
            let port: Substring
            if text.hasPrefix("[") {
                guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
                host = text[text.index(after: text.startIndex)..<close]
                port = text[text.index(close, offsetBy: 2)...]
            } else {
                guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
                host = text[..<colon]
                port = text[text.index(after: colon)...]
            }
            guard !host.isEmpty, !host.contains(" "), let p = Int(port), (0...65535).contains(p) else { return nil }
            return (String(host), p)
        }
    }

    /// The config file's path, for error messages and for resolving relative paths.
    public var file: String = "patrolhub.yaml"
    /// The prefix of every PatrolHub topic, input and output (`topic_prefix`).
    public var topicPrefix: String = "patrolhub/v1"
    /// The topic Frigate publishes its tracked-object events on (Frigate's own
    /// `mqtt.topic_prefix` + `/events`); outside `topic_prefix`, since Frigate owns it.
    public var frigateTopic: String = "frigate/events"
    /// The base of onvif2mqtt's topics (`{base}/{device}/{event}`), outside `topic_prefix`.
    public var onvif2mqttTopic: String = "onvif2mqtt"
    /// The district's time zone: local days, patrol schedules, reports and device times without an offset.
    public var timezone: TimeZone = TimeZone(identifier: "Asia/Shanghai")!
    /// The folder of the hub's files (`data_dir`): the store by default, the embedded broker's state and credentials; kept 0700.
    public var dataDir: String = "data"
    /// The `broker` section.
    public var broker = Broker()
    /// The `store` section.
    public var store = Store()
    /// The `retention` section.
    public var retention = Retention()
    /// The `limits` section.
    public var limits = Limits()
    /// The `pipeline` section.
    public var pipeline = Pipeline()
    /// The `http` section.
    public var http = HTTP()
    /// The safety rules of silences (`silences`).
    public var silences = SilencePolicy()
    /// The camera registry (`registry.cameras`, CSV): events from cameras not in it are dead-lettered.
    public var camerasFile: String = "cameras.csv"
    /// The grid zones (GeoJSON); without it events are placed by the registry's `zone` columns only.
    public var zonesFile: String?
    /// The patrol-device registry (`registry.devices`, CSV); nil: no devices.
    public var devicesFile: String?
    /// The rules file (`rules`, YAML); nil: the built-in defaults.
    public var rulesFile: String?
    /// The patrol plan (`patrol.yaml`); nil: no patrol supervision. Defaults to
    /// `patrol.yaml` beside the config file when that file exists.
    public var patrolFile: String?
    /// `sample: true`: the config describes an invented district (the repository's
    /// `config/`). `serve` then runs without the patrol plan, so no reminder letter
    /// is issued for a route that does not exist, and says so in its log, in
    /// `status` and on the board; the demo and the tests use the plan all the same.
    public var sample = false
    /// The line of each key whose value is checked only when the hub starts (files,
    /// folders, the broker's program and address), by its dotted path.
    public var keyLines: [String: Int] = [:]

    /// Every default, as an empty config file gives.
    public init() {}

    /// A start-time error about `key` (a dotted path such as `broker.tls.cert_file`),
    /// with this config's file and the key's line when it was written there.
    public func error(_ key: String, _ message: String) -> HubError {
        HubError.config(file: file, line: keyLines[key], key: key, message: message)
    }

    /// The embedded broker's credentials file: `broker.credentials`, else `{data_dir}/broker/credentials`.
    public var brokerCredentialsFile: String {
        if let f = broker.credentialsFile { return f }
        let dir = dataDir.hasPrefix("/") ? dataDir : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(dataDir)
        return (((dir as NSString).appendingPathComponent("broker") as NSString).appendingPathComponent("credentials") as NSString).standardizingPath
    }

    /// Loads and validates a config file; every error names the key and line.
    public static func load(file: String) throws(HubError) -> HubConfig {
        let root = try ConfigMap.load(file: file)
        return try parse(root, file: file)
    }

    /// What is wrong with `topic` as a configured topic (the prefix, Frigate's, onvif2mqtt's),
    /// nil when nothing. The prefix is written into the embedded broker's ACL, one rule a line:
    /// a line break or a space in it would add rules of its own.
    static func topicProblem(_ topic: String) -> String? {
        if topic.isEmpty { return "must not be empty" }
        if topic.utf8.count > 200 { return "must be at most 200 bytes" }
        if topic.contains("#") || topic.contains("+") { return "must not contain the wildcards '#' or '+'" }
        if topic.hasSuffix("/") { return "must not end with '/'" }
        if topic.hasPrefix("$") { return "must not start with '$' (the broker's own topics: nothing published there reaches the hub)" }
        if topic.unicodeScalars.contains(where: { $0.value <= 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 || $0.value == 0x2029 }) {
            return "must not contain spaces, line breaks or other control characters"
        }
        return nil
    }

    /// Parses an already-read mapping (tests use this with inline YAML).
    public static func parse(_ root: ConfigMap, file: String) throws(HubError) -> HubConfig {
        var c = HubConfig()
        c.file = file
        let base = (file as NSString).deletingLastPathComponent
        func resolve(_ p: String) -> String {
            // `~` and `~/…` are the home folder of the user running the hub, as a shell reads them
            // (otherwise a folder named `~` would be made beside the config file).
            let p = p == "~" || p.hasPrefix("~/") ? (p as NSString).expandingTildeInPath : p
            let joined = p.hasPrefix("/") || base.isEmpty ? p : (base as NSString).appendingPathComponent(p)
            return URL(fileURLWithPath: joined).standardizedFileURL.path
        }
        c.topicPrefix = try root.string("topic_prefix", default: c.topicPrefix)
        if let problem = Self.topicProblem(c.topicPrefix) { throw root.error("topic_prefix", problem) }
        c.frigateTopic = try root.string("frigate_topic", default: c.frigateTopic)
        if let problem = Self.topicProblem(c.frigateTopic) { throw root.error("frigate_topic", problem) }
        if c.frigateTopic.hasPrefix(c.topicPrefix + "/") || c.frigateTopic == c.topicPrefix {
            throw root.error("frigate_topic", "must be outside topic_prefix")
        }
        c.onvif2mqttTopic = try root.string("onvif2mqtt_topic", default: c.onvif2mqttTopic)
        if let problem = Self.topicProblem(c.onvif2mqttTopic) { throw root.error("onvif2mqtt_topic", problem) }
        if c.onvif2mqttTopic == c.topicPrefix || c.onvif2mqttTopic.hasPrefix(c.topicPrefix + "/") || c.topicPrefix.hasPrefix(c.onvif2mqttTopic + "/")
            || c.frigateTopic.hasPrefix(c.onvif2mqttTopic + "/") || c.frigateTopic == c.onvif2mqttTopic || c.onvif2mqttTopic.hasPrefix(c.frigateTopic + "/") {
            throw root.error("onvif2mqtt_topic", "must be apart from topic_prefix and frigate_topic")
        }
        if let tz = try root.string("timezone") {
            // Region names only: Foundation reads an abbreviation (CST: US Central, not China) or
            // an offset (GMT+8) one way, and the TZ variable the log's clock follows another.
            guard tz == "UTC" || tz.contains("/"), let zone = TimeZone(identifier: tz) else {
                throw root.error("timezone", "unknown timezone '\(tz.prefix(100))' (use an IANA name such as Asia/Shanghai)")
            }
            c.timezone = zone
        }
        func remember(_ m: ConfigMap, _ keys: String...) {
            for key in keys { if let line = m.line(key) { c.keyLines[m.keyPath(key)] = line } }
        }
        remember(root, "data_dir", "rules")
        c.dataDir = resolve(try root.string("data_dir", default: c.dataDir))
        c.sample = try root.bool("sample", default: c.sample)

        let b = try root.map("broker")
        c.broker.mode = try b.choice("mode", default: c.broker.mode)
        let embedded = c.broker.mode == .embedded
        remember(b, "host", "mosquitto_path", "credentials")
        c.broker.host = try b.string("host", default: c.broker.host)
        if c.broker.host.isEmpty || c.broker.host.contains(" ") || (embedded && !Broker.isIPv4Listen(c.broker.host)) {
            throw b.error("host", embedded ? "the embedded broker listens on an IPv4 address such as 127.0.0.1 or 0.0.0.0 (or localhost)" : "expected an address such as broker.example or 10.0.0.5")
        }
        c.broker.port = try b.int("port", default: embedded ? 0 : 1883, range: 0...65535)
        if !embedded && c.broker.port == 0 { throw b.error("port", "an external broker needs a port") }
        c.broker.clientID = try b.string("client_id", default: c.broker.clientID)
        if c.broker.clientID.isEmpty || c.broker.clientID.utf8.count > 23 * 4 { throw b.error("client_id", "must be 1 to 92 bytes") }
        if !c.broker.clientID.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f && !":/+#".unicodeScalars.contains($0) }) {
            throw b.error("client_id", "must be printable ASCII without spaces, ':', '/', '+' or '#' (it is also the hub's broker username)")
        }
        c.broker.keepalive = try b.int("keepalive", default: c.broker.keepalive, range: 5...3600)
        c.broker.username = try b.string("username")
        c.broker.password = try b.string("password")
        c.broker.publisherUsername = try b.string("publisher_username")
        if embedded, c.broker.username != nil || c.broker.password != nil || c.broker.publisherUsername != nil {
            throw b.error(c.broker.username != nil ? "username" : c.broker.password != nil ? "password" : "publisher_username",
                          "is for an external broker: the embedded broker's accounts (the hub's too) are in broker.credentials")
        }
        let tls = try b.map("tls")
        remember(tls, "ca_file", "cert_file", "key_file")
        c.broker.caFile = try tls.string("ca_file").map(resolve)
        c.broker.certFile = try tls.string("cert_file").map(resolve)
        c.broker.keyFile = try tls.string("key_file").map(resolve)
        if (c.broker.certFile == nil) != (c.broker.keyFile == nil) {
            throw tls.error(c.broker.certFile == nil ? "cert_file" : "key_file", "cert_file and key_file go together")
        }
        if embedded {
            // The embedded broker's TLS listener: devices connect to it, the hub stays on the plain loopback one.
            if c.broker.caFile != nil { throw tls.error("ca_file", "is for an external broker (the embedded broker's devices authenticate with passwords)") }
            if let listen = try tls.string("listen") {
                guard let (host, port) = HTTP.parseListen(listen), port > 0 else {
                    throw tls.error("listen", "expected HOST:PORT (e.g. 0.0.0.0:8883), found '\(listen)'")
                }
                guard c.broker.certFile != nil else { throw tls.error("listen", "a TLS listener needs cert_file and key_file") }
                c.broker.tlsListenHost = host
                c.broker.tlsListenPort = port
            } else if c.broker.certFile != nil {
                c.broker.tlsListenHost = "0.0.0.0"
                c.broker.tlsListenPort = 8883
            }
        } else if tls.contains("listen") {
            throw tls.error("listen", "is for the embedded broker's TLS listener (an external broker has its own)")
        }
        try tls.finish()
        c.broker.mosquittoPath = try b.string("mosquitto_path", default: c.broker.mosquittoPath)
        if c.broker.mosquittoPath.isEmpty || c.broker.mosquittoPath.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw b.error("mosquitto_path", "expected mosquitto's program: a name on PATH (mosquitto) or a path (/usr/sbin/mosquitto)")
        }
        c.broker.maxQueuedMessages = try b.int("max_queued_messages", default: c.broker.maxQueuedMessages, range: 1000...100_000_000)
        c.broker.maxInflightMessages = try b.int("max_inflight_messages", default: c.broker.maxInflightMessages, range: 1...65535)
        c.broker.allowAnonymous = try b.bool("allow_anonymous", default: c.broker.allowAnonymous)
        if c.broker.allowAnonymous {
            if !embedded { throw b.error("allow_anonymous", "is for the embedded broker (an external broker's own config decides)") }
            if !c.broker.listensOnLoopbackOnly {
                let where_ = HTTP.isLoopback(c.broker.host) ? "the TLS listener \(c.broker.tlsListenHost ?? "")" : "broker.host \(c.broker.host)"
                throw b.error("allow_anonymous", "anonymous clients are allowed on loopback only, and \(where_) is not loopback: remove allow_anonymous (devices then log in with their broker.credentials)")
            }
        }
        c.broker.credentialsFile = try b.string("credentials").map(resolve)
        if let group = try b.string("shared_group") {
            if embedded { throw b.error("shared_group", "is for an external broker: the hubs of a group share one broker, and an embedded broker is one hub's own") }
            if let problem = Broker.sharedGroupProblem(group) { throw b.error("shared_group", problem) }
            c.broker.sharedGroup = group
        }
        try b.finish()

        let s = try root.map("store")
        remember(s, "path", "password_file")
        c.store.path = resolve(try s.string("path", default: (c.dataDir as NSString).appendingPathComponent("patrolhub.sqlite")))
        c.store.synchronous = try s.choice("synchronous", default: c.store.synchronous)
        c.store.inboxRetentionDays = try s.int("inbox_retention_days", default: c.store.inboxRetentionDays, range: 1...3650)
        c.store.memoryMiB = try s.int("memory_mib", default: c.store.memoryMiB, range: Store.memoryMiBRange)
        c.store.kind = try s.choice("kind", default: c.store.kind)
        if let url = try s.string("url") {
            guard c.store.kind == .postgres else { throw s.error("url", "is for store.kind: postgres (the SQLite store is store.path)") }
            do { c.store.url = try PostgresStoreURL(parsing: url) } catch {
                throw s.error("url", error.message.hasPrefix("store.url: ") ? String(error.message.dropFirst(11)) : error.message)
            }
            // Like every path in the file, a relative sslrootcert is beside the config file, not the working folder.
            if let cert = c.store.url?.sslRootCert { c.store.url?.sslRootCert = resolve(cert) }
        } else if c.store.kind == .postgres {
            throw s.error("kind", "store.kind: postgres needs store.url: postgres://user@host:port/database")
        }
        c.store.passwordFile = try s.string("password_file").map(resolve)
        if c.store.passwordFile != nil, c.store.kind != .postgres {
            throw s.error("password_file", "is for store.kind: postgres")
        }
        try s.finish()

        let rt = try root.map("retention")
        c.retention.eventKeysHours = try rt.int("event_keys_hours", default: c.retention.eventKeysHours, range: 1...87_600)
        c.retention.deadLettersDays = try rt.int("dead_letters_days", default: c.retention.deadLettersDays, range: 1...36_500)
        c.retention.closedDays = try rt.int("closed_days", default: c.retention.closedDays, range: 1...36_500)
        c.retention.intervalMinutes = try rt.int("interval_minutes", default: c.retention.intervalMinutes, range: 1...1440)
        c.retention.chunkRows = try rt.int("chunk_rows", default: c.retention.chunkRows, range: 100...100_000)
        try rt.finish()

        let l = try root.map("limits")
        c.limits.maxPayloadBytes = try l.int("max_payload_bytes", default: c.limits.maxPayloadBytes, range: 1024...(64 << 20))
        c.limits.maxClockSkewSeconds = try l.int("max_clock_skew_seconds", default: c.limits.maxClockSkewSeconds, range: 0...86_400)
        c.limits.maxOpenItems = try l.int("max_open_items", default: c.limits.maxOpenItems, range: 1000...10_000_000)
        c.limits.maxWindowOccurrences = try l.int("max_window_occurrences", default: c.limits.maxWindowOccurrences, range: 100...10_000_000)
        try l.finish()

        let p = try root.map("pipeline")
        c.pipeline.batchSize = try p.int("batch_size", default: c.pipeline.batchSize, range: 1...100_000)
        try p.finish()

        let h = try root.map("http")
        c.http.enabled = try h.bool("enabled", default: c.http.enabled)
        if let listen = try h.string("listen") {
            guard let (host, port) = HTTP.parseListen(listen) else {
                throw h.error("listen", "expected HOST:PORT (e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080), found '\(listen)'")
            }
            c.http.host = host
            c.http.port = port
        }
        remember(h, "tokens_file")
        c.http.tokensFile = try h.string("tokens_file").map(resolve)
        for entry in try h.stringList("allowed_hosts") ?? [] {
            if let problem = HTTP.allowedHostProblem(entry) { throw h.error("allowed_hosts", problem) }
            c.http.allowedHosts.append(entry.lowercased())
        }
        let httpTLS = try h.map("tls")
        remember(httpTLS, "cert_file", "key_file")
        c.http.tlsCertFile = try httpTLS.string("cert_file").map(resolve)
        c.http.tlsKeyFile = try httpTLS.string("key_file").map(resolve)
        try httpTLS.finish()
        if (c.http.tlsCertFile == nil) != (c.http.tlsKeyFile == nil) {
            throw httpTLS.error(c.http.tlsCertFile == nil ? "cert_file" : "key_file", "cert_file and key_file go together")
        }
        c.http.maxStreamClients = try h.int("max_stream_clients", default: c.http.maxStreamClients, range: 1...100_000)
        c.http.maxConnections = try h.int("max_connections", default: c.http.maxConnections, range: 1...1_000_000)
        c.http.stallSeconds = try h.int("stall_seconds", default: c.http.stallSeconds, range: 5...86_400)
        c.http.idleTimeoutSeconds = try h.int("idle_timeout_seconds", default: c.http.idleTimeoutSeconds, range: 1...86_400)
        if c.http.enabled && c.http.tokensFile == nil && !c.http.isLoopback {
            throw h.error("listen", "\(c.http.listen) is not a loopback address: without http.tokens_file the HTTP API serves loopback only (set http.tokens_file, or listen on 127.0.0.1)")
        }
        try h.finish()

        let si = try root.map("silences")
        if let names = try si.stringList("never_silence") {
            for name in names {
                guard let category = Category(rawValue: name) else {
                    throw si.error("never_silence", "unknown category '\(name)' (use the risk taxonomy's names, e.g. sos, fire_smoke)")
                }
                c.silences.neverSilence.insert(category) // sos stays: the list adds to it
            }
        }
        if let text = try si.string("max_duration") {
            guard let seconds = Self.duration(text), seconds >= 60, seconds <= 366 * 86_400 else {
                throw si.error("max_duration", "expected a duration from 1m to 366d such as 12h or 7d, found '\(text)'")
            }
            c.silences.maxDuration = seconds
        }
        c.silences.maxCommentLength = try si.int("max_comment_length", default: c.silences.maxCommentLength, range: 1...10_000)
        try si.finish()

        let r = try root.map("registry")
        remember(r, "cameras", "devices", "zones", "patrol")
        c.camerasFile = resolve(try r.string("cameras", default: c.camerasFile))
        c.devicesFile = try r.string("devices").map(resolve)
        c.zonesFile = try r.string("zones").map(resolve)
        c.patrolFile = try r.string("patrol").map(resolve)
            ?? [resolve("patrol.yaml")].first { FileManager.default.fileExists(atPath: $0) }
        try r.finish()
        c.rulesFile = try root.string("rules").map(resolve)
        try root.finish()
        return c
    }

    /// `45s`, `30m`, `12h`, `7d`, or plain seconds.
    static func duration(_ text: String) -> TimeInterval? {
        if let n = Double(text), n.isFinite { return n }
        guard let unit = text.last, let n = Double(text.dropLast()), n.isFinite, n > 0 else { return nil }
        switch unit {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        case "d": return n * 86_400
        default: return nil
        }
    }
}
