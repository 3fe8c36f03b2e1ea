import Alerts
import AlertsStore
import AlertsStorePostgres
import Foundation
import Logging
import PatrolHubHTTP
import PatrolHubMQTT
import PatrolHubRuntime
import ServiceLifecycle

/// Everything `patrolhub serve` runs, wired from one validated config.
/// Tests and the demo build the same hub, so what they check is what runs.
struct Hub {
    let config: HubConfig
    /// The SQLite store: the hub's inbox beside it always, its outcomes too with `store.kind: sqlite`.
    let store: DisputeStore
    /// The PostgreSQL store the pipeline writes to with `store.kind: postgres` (nil with SQLite).
    let postgres: PostgresStore?
    /// A hub of a group (`broker.shared_group` with `store.kind: postgres`): the group's shared inbox,
    /// which this hub forwards its inbox file into and, while it leads, its pipeline reads (else nil).
    let sharedInbox: PostgresSharedInbox?
    /// A hub of a group: the group's leader lease (else nil).
    let lease: LeaderLease?
    /// Held while this hub exists: no second hub runs on the same store (`StoreLock`).
    let storeLock: StoreLock
    let registry: Registry
    /// Places events in zones; its `zones` is the loaded grid (nil without a zone file).
    let placer: Placer
    let rules: RuleSet
    let broker: EmbeddedBroker?
    /// The embedded broker's accounts (nil with an external broker).
    let brokerCredentials: BrokerCredentials?
    let brokerHost: String
    let brokerPort: Int
    let ingest: IngestService
    /// The dispatch-room HTTP interface (nil when `http.enabled` is false).
    let http: HTTPService?
    /// Every time the running hub reads: the wall clock, or a simulated one (`serve --simulated-clock`).
    let clock: HubClock
    /// What ingest and the pipeline last reported, for `/healthz`.
    let health: HubHealth
    /// This hub's metrics (`/metrics`); `serve` also makes them the process's swift-metrics backend.
    let metrics: HubMetrics
    let services: [any Service]
    let logger: Logger

    /// Builds the hub: loads registry and rules, opens the store, prepares
    /// the services. Nothing connects until the services run.
    init(config: HubConfig, logger: Logger, clock: HubClock = .real, metrics: HubMetrics = HubMetrics(), onCommit: (@Sendable (Int) -> Void)? = nil) throws {
        self.config = config
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        health = HubHealth(clock: clock)
        if config.store.kind == .postgres {
            // What `HubConfig.load` refuses in a file, for a config built in code.
            guard config.store.url != nil else {
                throw HubError.config(file: config.file, line: nil, key: "store.url", message: "store.kind: postgres needs store.url")
            }
        }
        for (key, file) in [("registry.cameras", config.camerasFile), ("registry.devices", config.devicesFile),
                            ("registry.zones", config.zonesFile), ("registry.patrol", config.patrolFile), ("rules", config.rulesFile)] {
            if let file, !FileManager.default.isReadableFile(atPath: file) {
                throw config.error(key, "cannot read \(file) (missing or unreadable)")
            }
        }
        try Self.checkStartFiles(config)
        let zones = try config.zonesFile.map { f throws(HubError) in try ZoneFile.load(contentsOf: URL(fileURLWithPath: f)) }
        registry = try Registry.load(camerasFile: config.camerasFile, devicesFile: config.devicesFile, zones: zones)
        rules = try config.rulesFile.map { f throws(HubError) in try RuleSet.load(file: f) } ?? RuleSet()
        let placer = Placer(registry: registry, zones: zones, maxCameraDistance: rules.maxCameraDistance)
        var loadedPlan: PatrolPlan?
        if let f = config.patrolFile { loadedPlan = try PatrolPlan.load(file: f, registry: self.registry, zones: zones, timeZone: config.timezone) }
        let plan = loadedPlan
        self.placer = placer
        do { try FilePermissions.secureFolder(config.dataDir) } // 0700: the broker's and the store's files
        catch { throw config.error("data_dir", "cannot make the folder \(config.dataDir): \(Self.reason(error))") }
        try refuseForeignStoreFiles(config.store.path) // before anything is made or changed beside a wrong path
        let storeFolder = (config.store.path as NSString).deletingLastPathComponent
        if !storeFolder.isEmpty {
            do { try FilePermissions.secureFolder(storeFolder) }
            catch { throw config.error("store.path", "cannot make the folder \(storeFolder): \(Self.reason(error))") }
        }
        storeLock = try StoreLock(storePath: config.store.path)
        // A group of hubs on one PostgreSQL store: each forwards its inbox into the shared one, and the
        // leader's pipeline decides every outcome (docs/POSTGRES.md, "A group of hubs").
        let group = config.store.kind == .postgres && config.broker.sharedGroup != nil
        var sharedInbox: PostgresSharedInbox?
        var lease: LeaderLease?
        var dispatch: PostgresDispatchStore?
        if config.store.kind == .postgres, let url = config.store.url {
            // Only the inbox is a file here (no store file is made); the store the pipeline writes to is
            // PostgreSQL, migrated on connect, keeping this inbox's cursor under the inbox's id, with the
            // registry it reads camera statuses against.
            store = try DisputeStore.inboxOnly(path: DisputeStore.inboxPath(for: config.store.path), synchronous: config.store.synchronous,
                                               memoryMiB: config.store.memoryMiB)
            let pg = try PostgresStore(url: url, passwordFile: config.store.passwordFile,
                                       inboxID: group ? PostgresSharedInbox.sharedInboxID : store.inboxID, logger: logger)
            postgres = pg
            do {
                if group {
                    try pg.claimForGroup()
                    sharedInbox = PostgresSharedInbox(store: try PostgresStore(url: url, passwordFile: config.store.passwordFile, logger: logger))
                    lease = try LeaderLease(url: url.description, password: PostgresStore.password(environment: ProcessInfo.processInfo.environment, file: config.store.passwordFile), logger: logger)
                } else {
                    try pg.claimForThisHub()
                }
                try Self.refuseUnmigratedSwitch(config: config, url: url, inboxID: store.inboxID, postgres: pg)
                if let zones { try pg.saveZones(zones) }
                try pg.saveRegistry(registry, zoneOf: { placer.cameraPlacement($0.id)?.zone })
                if config.http.enabled {
                    // The API's reads and operator actions on connections of their own (`PostgresDispatchStore`): they never wait for the pipeline's.
                    let passwordFile = config.store.passwordFile
                    dispatch = try PostgresDispatchStore(connect: { try PostgresStore(url: url, passwordFile: passwordFile, logger: logger) }, inbox: store)
                    try metrics.startCounting(store: dispatch!)
                }
            } catch {
                dispatch?.close()
                sharedInbox?.store.close()
                pg.close()
                throw error
            }
            logger.warning("store.postgres_partial", metadata: [
                "store.url": "\(url)",
                "store.not_yet": "store backups do not run on PostgreSQL (use pg_dump; docs/POSTGRES.md)",
            ])
        } else {
            store = try DisputeStore(path: config.store.path, synchronous: config.store.synchronous, memoryMiB: config.store.memoryMiB)
            postgres = nil
        }
        self.sharedInbox = sharedInbox
        self.lease = lease
        // A hub that fails to build closes the PostgreSQL connections it opened (and so its claim on the store).
        var closeOnFailure = [postgres, sharedInbox?.store].compactMap { $0 }
        var closeDispatchOnFailure = dispatch
        defer {
            for c in closeOnFailure { c.close() }
            closeDispatchOnFailure?.close()
        }
        if postgres == nil {
            try metrics.startCounting(store: store)
            if let zones { try store.saveZones(zones) }
            try store.saveRegistry(registry, zoneOf: { placer.cameraPlacement($0.id)?.zone })
        }
        let outside = registry.cameras.keys.filter { placer.cameraPlacement($0)?.zone == ZoneLocation.unzonedCode }.sorted()
        logger.info("registry.loaded", metadata: [
            "registry.cameras": "\(registry.cameras.count)", "registry.devices": "\(registry.devices.count)",
            "registry.zones": "\(zones?.zones.count ?? 0)", "registry.cameras_unzoned": "\(outside.count)",
            "patrol.routes": "\(plan?.routes.count ?? 0)", "patrol.checkpoints": "\(plan?.checkpoints.count ?? 0)",
        ])
        if !outside.isEmpty {
            logger.warning("registry.cameras_outside_every_zone", metadata: ["cameras": "\(outside.joined(separator: ","))"])
        }

        // First, so it stops last: the lock lives as long as any service runs.
        var services: [any Service] = [StoreLockService(lock: storeLock)]
        // Next, so it stops after the pipeline and the publisher: the connection closes once they are done.
        if let postgres { services.append(PostgresStoreService(store: postgres)) }
        if let sharedInbox { services.append(PostgresStoreService(store: sharedInbox.store)) }
        if let dispatch { services.append(PostgresStoreService(close: dispatch.close)) }
        switch config.broker.mode {
        case .embedded:
            let credentials = try BrokerCredentials.prepare(
                file: config.brokerCredentialsFile, registry: registry, clientID: config.broker.clientID,
                camerasFile: config.camerasFile, devicesFile: config.devicesFile)
            let access = BrokerAccess(accounts: credentials.accounts, topicPrefix: config.topicPrefix,
                                      frigateTopic: config.frigateTopic, allowAnonymous: config.broker.allowAnonymous,
                                      onvif2mqttBase: config.onvif2mqttTopic)
            let b = EmbeddedBroker(options: .init(
                executable: config.broker.mosquittoPath, host: config.broker.host,
                port: config.broker.port == 0 ? try EmbeddedBroker.freePort() : config.broker.port,
                dataDir: config.dataDir, maxQueuedMessages: config.broker.maxQueuedMessages,
                maxInflightMessages: config.broker.maxInflightMessages, access: access,
                maxPayloadBytes: config.limits.maxPayloadBytes,
                tls: config.broker.tlsListenHost.map { .init(host: $0, port: config.broker.tlsListenPort ?? 8883,
                                                            certFile: config.broker.certFile ?? "", keyFile: config.broker.keyFile ?? "") }),
                logger: logger)
            if !HubConfig.HTTP.isLoopback(config.broker.host) {
                logger.warning("broker.plain_listener_beyond_loopback", metadata: [
                    "broker.host": "\(config.broker.host)",
                    "hint": "devices send their passwords unencrypted on this listener: give them broker.tls and keep broker.host on 127.0.0.1",
                ])
            }
            broker = b
            brokerCredentials = credentials
            brokerHost = b.connectHost
            brokerPort = b.options.port
            services.append(BrokerService(broker: b))
        case .external:
            broker = nil
            brokerCredentials = nil
            brokerHost = config.broker.host
            brokerPort = config.broker.port
        }

        let router = TopicRouter(prefix: config.topicPrefix, frigateTopic: config.frigateTopic, onvif2mqttBase: config.onvif2mqttTopic)
        var mqtt = MQTTClient.Options()
        mqtt.host = brokerHost
        mqtt.port = brokerPort
        mqtt.clientID = config.broker.clientID
        mqtt.keepalive = config.broker.keepalive
        if let brokerCredentials {
            // The embedded broker: the hub's own accounts, on the plain loopback listener.
            mqtt.username = config.broker.clientID
            mqtt.password = brokerCredentials.account(config.broker.clientID)?.password
        } else {
            mqtt.username = config.broker.username
            mqtt.password = config.broker.password
            mqtt.caFile = config.broker.caFile
            mqtt.certFile = config.broker.certFile
            mqtt.keyFile = config.broker.keyFile
        }
        // In a shared-subscription group each filter is `$share/NAME/filter`; the plain filters an
        // earlier ungrouped run left in the persistent session are dropped, or they would still bring every message.
        mqtt.subscriptions = config.broker.subscriptionFilters(router.subscriptions)
        if let group = config.broker.sharedGroup {
            mqtt.unsubscriptions = router.subscriptions
            logger.info("mqtt.shared_group", metadata: [
                "mqtt.shared_group": "\(group)",
                "mqtt.subscriptions": "\(mqtt.subscriptions.joined(separator: " "))",
            ])
        }
        // Filters an earlier run subscribed that this configuration does not (a group left or
        // renamed: `$share/OLD/…`; another prefix) stay in the persistent session until unsubscribed.
        let stale = try store.rememberSubscriptions(mqtt.subscriptions).filter { !mqtt.unsubscriptions.contains($0) }
        if !stale.isEmpty {
            mqtt.unsubscriptions += stale
            logger.info("mqtt.unsubscribe_stale", metadata: ["mqtt.unsubscriptions": "\(stale.joined(separator: " "))"])
        }
        mqtt.maxPayloadBytes = config.limits.maxPayloadBytes // larger payloads: head, size and hash only
        mqtt.clock = clock // receive times
        (mqtt.connects, mqtt.disconnects) = metrics.mqttCounters(client: "ingest")
        // The services' wake-ups: the ingest path rings `inbox` after each committed group (the
        // pipeline waits on it), the pipeline rings `outcomes` after each commit (the publisher,
        // the event stream and the WAL checkpoints wait on it).
        let inbox = Doorbell(), outcomes = Doorbell()
        // In a group the ingest path wakes the forwarder, and the forwarder the pipeline.
        let received = group ? Doorbell() : inbox
        ingest = IngestService(options: mqtt, store: store, logger: logger, health: health) { n in
            received.ring()
            onCommit?(n)
        }

        var out = mqtt
        out.clientID = config.broker.clientID + "-out"
        if let brokerCredentials {
            out.username = out.clientID
            out.password = brokerCredentials.account(out.clientID)?.password
        } else if let publisher = config.broker.publisherUsername {
            out.username = publisher
        }
        out.subscriptions = []
        out.cleanSession = true
        out.onConnect = outcomes // what was written while disconnected goes out on connect
        out.publishTimeout = .seconds(5) // an unacknowledged row stays in the outbox and goes out again
        (out.connects, out.disconnects) = metrics.mqttCounters(client: "publisher")
        var publisher = PublisherService(client: MQTTClient(options: out, logger: logger), store: postgres ?? store as any OutboxStore,
                                         logger: logger, wake: outcomes)
        if let lease {
            let isLeader: @Sendable () -> Bool = { lease.isLeader }
            publisher.isActive = isLeader
        }

        let store = self.store
        let rules = self.rules
        let registry = self.registry
        let timeParser = TimeParser(defaultZone: config.timezone)
        let limits = config.limits
        let silencePolicy = config.silences
        let prefix = config.topicPrefix
        let directory = zones.map(ZoneDirectory.init)
        let housekeeping = Housekeeper.Policy(config: config, rules: rules)
        /// The decode stage and a fresh engine, for a processor on either store.
        @Sendable func stages() -> (DecodeStage, RiskEngine, PatrolStage?) {
            let decode = DecodeStage(router: router, registry: registry, timeParser: timeParser,
                                     maxPayloadBytes: limits.maxPayloadBytes, maxClockSkew: TimeInterval(limits.maxClockSkewSeconds),
                                     adapters: rules.adapters)
            var engine = RiskEngine(rules: rules, timeZone: timeParser.defaultZone, place: placer.place)
            engine.neverSilence = silencePolicy.neverSilence
            engine.maxOpenItems = limits.maxOpenItems
            engine.maxWindowOccurrences = limits.maxWindowOccurrences
            // 一网分流: new cases go to the street's or the district's unit, joint teams named.
            if let directory { engine.cases.route = CaseRouter(rules.routing).function(zones: directory) }
            return (decode, engine, plan.map { PatrolStage(plan: $0, outputPrefix: prefix, rules: rules) })
        }
        // Beside the store file (its path even where the store is PostgreSQL); none for an in-memory store.
        let trapEvidenceFile = postgres != nil ? config.store.path + "-trap" : store.path.map { $0 + "-trap" }
        let pipeline: any Service
        if let pg = postgres, sharedInbox != nil, let lease {
            // The leader reads the shared inbox on the pipeline's own connection, not the forwarder's.
            let shared = PostgresSharedInbox(store: pg, clock: clock.function)
            // A group: the leader's pipeline reads the shared inbox; taking the lead in the store
            // first fences off the previous leader's batches (`PostgresStore.takeLead`).
            let holder = config.broker.clientID
            let makeProcessor: @Sendable () throws -> BatchProcessor<PostgresStore> = {
                let (decode, engine, patrol) = stages()
                try pg.takeLead(holder: holder)
                let processor = try BatchProcessor(store: pg, inbox: shared, decode: decode, engine: engine, outputPrefix: prefix,
                                                   patrol: patrol, clock: clock.function)
                processor.keyRetention = housekeeping.keyRetention
                return processor
            }
            // The leader prunes the store (its forwarder prunes each hub's inbox file) and labels dead letters.
            var service = PipelineService<PostgresStore>(makeProcessor: makeProcessor, trapEvidenceFile: trapEvidenceFile,
               makeHousekeeper: { p in PostgresHousekeeper(store: p.store, policy: housekeeping) },
               labelDeadLetterSources: { try $0.store.labelDeadLetterSources(router: $0.decode.router) },
               clock: clock, batchSize: config.pipeline.batchSize, logger: logger,
               supervision: SupervisionScheduler(store: pg, rules: rules.supervision, outputPrefix: prefix, timeZone: config.timezone),
               health: health, inbox: inbox, outcomes: outcomes, metrics: metrics)
            let isLeader: @Sendable () -> Bool = { lease.isLeader }
            service.isLeader = isLeader
            service.pollInterval = Self.groupPollInterval
            service.ownsInProgressMark = { p in try p.store.inProgressMarkHolder().map { $0 == holder } ?? true }
            service.dropLead = { pg.dropLead() }
            pipeline = service
        } else if let pg = postgres {
            pipeline = PipelineService(makeProcessor: {
                let (decode, engine, patrol) = stages()
                let processor = try BatchProcessor(store: pg, inbox: store, decode: decode, engine: engine, outputPrefix: prefix,
                                                   patrol: patrol, clock: clock.function)
                processor.keyRetention = housekeeping.keyRetention
                return processor
            }, trapEvidenceFile: trapEvidenceFile,
               makeHousekeeper: { p in
                   HousekeepingPair(Housekeeper(inbox: store, policy: housekeeping, cursor: { try p.store.cursor() }),
                                    PostgresHousekeeper(store: p.store, policy: housekeeping))
               },
               labelDeadLetterSources: { try $0.store.labelDeadLetterSources(router: $0.decode.router) },
               clock: clock, batchSize: config.pipeline.batchSize, logger: logger,
               supervision: SupervisionScheduler(store: pg, rules: rules.supervision, outputPrefix: prefix, timeZone: config.timezone),
               health: health, inbox: inbox, outcomes: outcomes, metrics: metrics)
        } else {
            pipeline = PipelineService(makeProcessor: {
                let (decode, engine, patrol) = stages()
                let processor = try PipelineProcessor(store: store, decode: decode, engine: engine, outputPrefix: prefix,
                                                      patrol: patrol, clock: clock.function)
                processor.keyRetention = housekeeping.keyRetention
                return processor
            }, trapEvidenceFile: trapEvidenceFile, makeHousekeeper: { Housekeeper(store: $0.store, policy: housekeeping) },
               labelDeadLetterSources: { try $0.store.labelDeadLetterSources(router: $0.decode.router) },
               clock: clock, batchSize: config.pipeline.batchSize, logger: logger,
               supervision: SupervisionScheduler(store: store, rules: rules.supervision, outputPrefix: prefix, timeZone: config.timezone),
               health: health, inbox: inbox, outcomes: outcomes, metrics: metrics)
        }

        // Shutdown runs in reverse: stop HTTP, stop ingesting, drain the pipeline, publish the last outcomes, stop the broker.
        // In a group the inbox file is written on every hub, but only the leader's pipeline commits:
        // each forward (which rings `inbox`) is what the inbox's checkpoints follow there.
        let checkpoints = CheckpointService(store: store, commits: group ? inbox : outcomes, logger: logger)
        if let lease, let sharedInbox {
            // Before the publisher and the pipeline, so it stops after them (a leader drains first);
            // the forwarder after the pipeline, so it stops before it (its last rows reach the leader).
            services.append(GroupLeaderService(lease: lease, bells: [inbox, outcomes], logger: logger))
            services.append(contentsOf: [checkpoints, publisher, pipeline] as [any Service])
            services.append(ForwarderService(inbox: store, shared: sharedInbox, policy: housekeeping, wake: received, forwarded: inbox,
                                             clock: clock, logger: logger))
            services.append(ingest)
            logger.info("group.joined", metadata: ["mqtt.shared_group": "\(config.broker.sharedGroup ?? "")", "inbox.id": "\(store.inboxID)"])
        } else {
            services.append(contentsOf: [checkpoints, publisher, pipeline, ingest] as [any Service])
        }
        // HTTP last, so it stops first: no request sees a half-stopped hub.
        http = config.http.enabled ? try HTTPService(config: config, store: dispatch ?? store as any DispatchStore, health: health, clock: clock, commits: outcomes, inbox: inbox, metrics: metrics, logger: logger) : nil
        if let http { services.append(http) }
        self.services = services
        closeOnFailure = []
        closeDispatchOnFailure = nil
    }

    /// How often a group's leader looks for rows the other hubs forwarded, at most (seconds).
    static let groupPollInterval: TimeInterval = 0.02

    /// Starts the embedded broker (so the clients connect at their first
    /// try) and returns the service group, which runs until SIGTERM/SIGINT
    /// or `triggerGracefulShutdown()`.
    func start(signals: Bool = true) throws -> ServiceGroup {
        if let broker, !broker.isRunning { try broker.start() }
        return ServiceGroup(configuration: .init(
            // A service's own description when it has one (the HTTP service's names its address and
            // how many tokens, never a token), else its type: the default is a reflection of every
            // stored property (stores, closures, clients), built for each service at every start.
            services: services.map { .init(service: $0, serviceName: ($0 as? CustomStringConvertible)?.description ?? "\(type(of: $0))") },
            gracefulShutdownSignals: signals ? [.sigterm, .sigint] : [],
            logger: logger))
    }
}

extension Hub {
    /// Refuses a start whose files or programs are missing before anything is made, naming the
    /// key (and its line) instead of leaving mosquitto or the file system to report it without one.
    static func checkStartFiles(_ config: HubConfig) throws(HubError) {
        var st = stat()
        if stat(config.dataDir, &st) == 0, st.st_mode & S_IFMT != S_IFDIR {
            throw config.error("data_dir", "\(config.dataDir) is a file, not a folder")
        }
        let storeFolder = (config.store.path as NSString).deletingLastPathComponent
        if !storeFolder.isEmpty, stat(storeFolder, &st) == 0, st.st_mode & S_IFMT != S_IFDIR {
            throw config.error("store.path", "\(storeFolder) is a file, not a folder")
        }
        if stat(config.store.path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR {
            throw config.error("store.path", "\(config.store.path) is a folder: name the store's file")
        }
        var files: [(String, String?)] = [("broker.tls.ca_file", config.broker.caFile), ("broker.tls.cert_file", config.broker.certFile),
                                          ("broker.tls.key_file", config.broker.keyFile), ("store.password_file", config.store.passwordFile),
                                          ("http.tokens_file", config.http.enabled ? config.http.tokensFile : nil)]
        if config.broker.mode == .embedded {
            // A credentials file is made when missing; one that is there must be readable.
            if let f = config.broker.credentialsFile, FileManager.default.fileExists(atPath: f) { files.append(("broker.credentials", f)) }
            do { _ = try EmbeddedBroker.resolve(config.broker.mosquittoPath) } catch {
                throw config.error("broker.mosquitto_path", Self.reason(error))
            }
        }
        for (key, file) in files {
            guard let file else { continue }
            if stat(file, &st) != 0 || st.st_mode & S_IFMT != S_IFREG || !FileManager.default.isReadableFile(atPath: file) {
                throw config.error(key, "cannot read \(file) (missing, unreadable or not a file)")
            }
        }
    }

    /// An error's own message (a hub error's text, or the POSIX reason of a file-system one), not its debug form.
    static func reason(_ error: any Error) -> String {
        if let e = error as? HubError { return e.message }
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return ns.localizedDescription
    }

    /// Refuses `store.kind: postgres` beside a SQLite store that still holds this hub's history
    /// (its pipeline processed inbox rows) while PostgreSQL has no position for the inbox. Started
    /// anyway, the hub would begin its cursor at 0 and process the rows the inbox keeps
    /// (`store.inbox_retention_days`) again, into a store without their event keys, and the
    /// district's cases, slips and deadlines would stay behind in the file. `store migrate` copies
    /// the store with its cursor; moving both files aside starts afresh on purpose. A hub that
    /// PostgreSQL knows (it ran on it, or the copy carried its cursor) never reads the file.
    static func refuseUnmigratedSwitch(config: HubConfig, url: PostgresStoreURL, inboxID: String, postgres: PostgresStore) throws {
        let path = config.store.path
        guard FileManager.default.fileExists(atPath: path), try !postgres.hasPosition(inbox: inboxID) else { return }
        let through: Int64?
        do {
            through = try DisputeStore.processedThrough(path: path)
        } catch {
            throw HubError.config(file: config.file, line: nil, key: "store.path", message: """
                store.kind is postgres and PostgreSQL has no position for this hub's inbox, so the SQLite store at \(path) \
                is read for a history to copy first, but it cannot be read (\(error)): make it readable to this user, \
                or move it and \(DisputeStore.inboxPath(for: path)) aside if they hold nothing to keep
                """)
        }
        guard let through else { return }
        let passwordFile = config.store.passwordFile.map { " --password-file \(shellQuoted($0))" } ?? ""
        throw HubError.config(file: config.file, line: nil, key: "store.kind", message: """
            store.kind is postgres, but the SQLite store \(path) (store.path) holds this hub's history (processed through inbox row \(through)) \
            and \(url) has no position for its inbox: stop the hub and copy the store first with \
            patrolhub store migrate --from \(shellQuoted("sqlite:" + path)) --to \(shellQuoted(url.description))\(passwordFile) \
            (it copies into an empty database only: a hub joining a store that already holds data cannot bring its history), \
            or move \(path) and \(DisputeStore.inboxPath(for: path)) aside to start without it
            """)
    }

    /// `text` as one shell word: in single quotes, each `'` written as `'\''`.
    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
