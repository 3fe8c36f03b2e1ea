import Alerts
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The embedded broker's accounts (`broker.credentials`, default
/// `{data_dir}/broker/credentials`, mode 0600): one account per line,
/// `ROLE USERNAME PASSWORD`, separated by spaces or tabs; blank lines and
/// lines starting with `#` are kept as they are.
///
/// ```
/// # role     username              password
/// hub        patrolhub             9f0c…      (generated: the hub's ingest session)
/// hub        patrolhub-out         51be…      (generated: the hub's outcome publisher)
/// simulator  patrolhub-sim         c4d2…      (generated: simulate, drill, demo)
/// camera     cam-001               7a31…      (generated for every registered camera)
/// device     dev-007               e80f…      (generated for every registered device)
/// nvr        frigate-nvr-1         -          (declared by the admin: publishes Frigate's topics)
/// reader     dispatch-bridge       -          (declared by the admin: reads {prefix}/out/#)
/// ```
///
/// At every start the hub adds an account for each registered camera and
/// device and for itself, and generates a password (160 random bits) for
/// every account that has none (`-` or nothing); an admin may set any
/// password of at least 16 printable characters instead. Each username is
/// also the account's MQTT client id (`use_username_as_clientid`), and a
/// camera or device account publishes only under its own id.
package struct BrokerCredentials: Sendable {
    /// What an account may do (the ACL `BrokerAccess` writes for it).
    package enum Role: String, Sendable, CaseIterable {
        /// The hub: reads every input topic, writes `{prefix}/out/#`.
        case hub
        /// A camera: writes `{prefix}/camera/{id}/…`, `gb28181/{id}/…` and `onvif/{id}/…`.
        case camera
        /// A patrol device: writes `{prefix}/device/{id}/…` (and the other own-id topics).
        case device
        /// A Frigate NVR: writes under the Frigate topic's root (`frigate/#`), plus its own-id topics.
        case nvr
        /// An integrator: reads `{prefix}/out/#`.
        case reader
        /// The simulator (simulate, drill, demo): writes every input topic, reads `{prefix}/out/#`.
        case simulator
    }

    /// One broker login: a role, a username and its password.
    package struct Account: Sendable, Hashable {
        /// What the account may read and write.
        package var role: Role
        /// The login name, also the client id it must connect with.
        package var username: String
        /// The password in clear (the broker gets only its hash).
        package var password: String

        /// An account.
        package init(role: Role, username: String, password: String) {
            self.role = role
            self.username = username
            self.password = password
        }
    }

    /// A line of the credentials file: kept as written (comments, blanks) or an account.
    package enum Line: Sendable {
        case text(String)
        case account(Account)
    }

    /// The file's lines in order, so rewriting it keeps the installer's comments.
    package var lines: [Line]
    /// The credentials file's path, for errors and for writing it back.
    package let file: String

    /// Credentials of `file`, holding `lines` (none by default).
    package init(file: String, lines: [Line] = []) {
        self.file = file
        self.lines = lines
    }

    /// The accounts, in file order.
    package var accounts: [Account] {
        lines.compactMap { if case .account(let a) = $0 { return a }; return nil }
    }

    /// The account of `username`, if any.
    package func account(_ username: String) -> Account? { accounts.first { $0.username == username } }

    /// The first account with `role`, if any.
    package func account(role: Role) -> Account? { accounts.first { $0.role == role } }

    /// Letters, digits and `-._@~` and the like: no spaces, controls, `:` (the password
    /// file's separator), `/`, `+`, `#` (topic levels and wildcards in the ACL).
    package static func isValidUsername(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 256 && name.unicodeScalars.allSatisfy { s in
            s.value > 0x20 && s.value != 0x7f && !(0x80..<0xa0).contains(s.value) && !":/+#".unicodeScalars.contains(s)
        }
    }

    /// Parses `ROLE USERNAME [PASSWORD]` lines, generating a password for a missing one or `-`; `file` names it in errors.
    package static func parse(_ text: String, file: String) throws(HubError) -> BrokerCredentials {
        var result = BrokerCredentials(file: file)
        var seen: [String: Int] = [:]
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = i + 1
            func fail(_ message: String) -> HubError { HubError.config(file: file, line: line, key: "broker.credentials", message: message) }
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") {
                result.lines.append(.text(String(raw)))
                continue
            }
            let fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard (2...3).contains(fields.count) else { throw fail("expected 'ROLE USERNAME PASSWORD' (PASSWORD may be left out or '-': the hub generates one), found \(fields.count) fields") }
            guard let role = Role(rawValue: fields[0]) else {
                throw fail("unknown role '\(fields[0])' (use one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let username = fields[1]
            guard isValidUsername(username) else { throw fail("username '\(username)' must not hold spaces, control characters, ':', '/', '+' or '#'") }
            if let first = seen[username] { throw fail("duplicate username '\(username)' (first on line \(first))") }
            seen[username] = line
            var password = fields.count == 3 ? fields[2] : "-"
            if password == "-" {
                password = generatePassword()
            } else {
                guard password.utf8.count >= 16 else { throw fail("the password of '\(username)' is too short: use at least 16 characters, or '-' to have one generated") }
                guard password.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { throw fail("the password of '\(username)' must be printable ASCII") }
            }
            result.lines.append(.account(Account(role: role, username: username, password: password)))
        }
        while case .text(let t)? = result.lines.last, t.isEmpty { result.lines.removeLast() }
        return result
    }

    /// 20 random bytes (160 bits) from the system's CSPRNG, as hex.
    package static func generatePassword() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<20).map { _ in HubFormat.zeroPadded(UInt8.random(in: .min ... .max, using: &rng), width: 2, radix: 16) }.joined()
    }

    /// Adds an account with a generated password unless `username` has one already.
    @discardableResult
    package mutating func ensure(_ role: Role, _ username: String) -> Bool {
        guard account(username) == nil else { return false }
        lines.append(.account(Account(role: role, username: username, password: Self.generatePassword())))
        return true
    }

    /// The file's text: comments as written, accounts as aligned `ROLE USERNAME PASSWORD` lines.
    package var text: String {
        lines.map { line -> String in
            switch line {
            case .text(let t): return t
            case .account(let a): return "\(a.role.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(a.username) \(a.password)"
            }
        }.joined(separator: "\n") + "\n"
    }

    /// The comment a new credentials file starts with.
    package static let header = """
        # PatrolHub broker accounts: ROLE USERNAME PASSWORD (see README "Security").
        # The hub adds every registered camera and device and itself at start, and generates
        # a password wherever there is none or '-'. Roles: hub, camera, device, nvr, reader, simulator.
        """

    /// The hub's usernames: its ingest session (`client_id`) and its outcome publisher (`client_id-out`).
    package static func hubUsernames(clientID: String) -> [String] { [clientID, clientID + "-out"] }
    /// The simulator's username for the hub's `clientID`.
    package static func simulatorUsername(clientID: String) -> String { clientID + "-sim" }

    /// Reads the credentials file (creating it when missing), adds what the
    /// registry and the hub need, generates missing passwords, and writes the
    /// file back (mode 0600) when anything changed.
    package static func prepare(file: String, registry: Registry, clientID: String, camerasFile: String, devicesFile: String?) throws -> BrokerCredentials {
        var creds: BrokerCredentials
        let existing = FileManager.default.fileExists(atPath: file)
        if existing {
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                throw HubError.config(file: file, line: nil, key: "broker.credentials", message: "cannot read the credentials file (unreadable or not UTF-8)")
            }
            creds = try parse(text, file: file)
        } else {
            creds = BrokerCredentials(file: file, lines: header.split(separator: "\n", omittingEmptySubsequences: false).map { .text(String($0)) })
        }
        let before = creds.text
        let hubNames = hubUsernames(clientID: clientID)
        for name in hubNames {
            if let a = creds.account(name), a.role != .hub {
                throw HubError.config(file: file, line: nil, key: "broker.credentials", message: "'\(name)' is the hub's username (broker.client_id), but the file gives it the role \(a.role.rawValue)")
            }
            creds.ensure(.hub, name)
        }
        creds.ensure(.simulator, simulatorUsername(clientID: clientID))
        for (role, ids, source) in [(Role.camera, registry.cameras.keys.sorted(), camerasFile), (.device, registry.devices.keys.sorted(), devicesFile ?? "")] {
            for id in ids {
                guard isValidUsername(id) else {
                    throw HubError.config(file: source, line: nil, key: "id", message: "\(role.rawValue) id '\(id)' cannot be a broker username: no spaces, control characters, ':', '/', '+' or '#'")
                }
                if hubNames.contains(id) || id == simulatorUsername(clientID: clientID) {
                    throw HubError.config(file: source, line: nil, key: "id", message: "\(role.rawValue) id '\(id)' is a username of the hub itself (broker.client_id): rename the \(role.rawValue) or change broker.client_id")
                }
                creds.ensure(role, id)
            }
        }
        if creds.text != before || !existing {
            try writePrivate(creds.text, to: file)
        } else {
            chmod(file, 0o600)
        }
        return creds
    }

    /// Writes `text` to a new file only the owner can read, then moves it over `path`.
    package static func writePrivate(_ text: String, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temp = path + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw HubError.config(file: path, line: nil, key: "broker.credentials", message: "cannot write: \(String(cString: strerror(errno)))") }
        fchmod(fd, 0o600)
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == bytes.count, rename(temp, path) == 0 else {
            unlink(temp)
            throw HubError.config(file: path, line: nil, key: "broker.credentials", message: "cannot write: \(String(cString: strerror(errno)))")
        }
    }

    /// Reads an existing credentials file (the simulator's side: it never writes).
    package static func load(file: String) throws(HubError) -> BrokerCredentials {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw HubError.config(file: file, line: nil, key: "broker.credentials", message: "cannot read the credentials file (the hub writes it at its first start)")
        }
        return try parse(text, file: file)
    }
}
