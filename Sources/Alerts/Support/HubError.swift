/// The one error type of the hub: a code callers switch on, the sentence a
/// person reads, and the structured facts behind it (file, line, key, field,
/// id, byte offset …), shaped like swift-service-lifecycle's
/// `ServiceGroupError`: a struct around an open set of codes, so a new kind
/// of error is a new static `Code`, not a new type, and callers never break.
///
/// Every module builds its errors with a factory next to the code that
/// throws them (`HubError.config(file:line:key:_:)`,
/// `HubError.decode(_:_:)`, `HubError.caseAction(_:_:)` …); the factory
/// fixes the one-line rendering (`description`), which is what the CLI
/// prints, the logs show and the dead-letter store keeps.
///
/// ```swift
/// throw HubError.config(file: "hub.yaml", line: 12, key: "mqtt.port", "must be 1…65535")
/// // description: "hub.yaml:12: key 'mqtt.port': must be 1…65535"
///
/// catch let error as HubError where error.code == .config {
///     print(error.context.key ?? "")   // "mqtt.port"
/// }
/// ```
///
/// Facts in `context` are also readable as members of the error itself
/// (`error.line`, `error.key`, `error.reason`), through dynamic member lookup.
///
/// Equality and hashing compare code, message, context and description; the
/// underlying error and where the error was made are left out.
@dynamicMemberLookup
public struct HubError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of error this is: a stable string, shown in logs and usable in
    /// `switch` (`case .config:`). Each module declares its own codes in an
    /// extension (`extension HubError.Code { static let mqtt = Code("mqtt") }`).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The code's stable text, e.g. `"config"`, `"malformed"`.
        public let rawValue: String
        /// A code with the stable text `rawValue`.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// A code with the stable text `rawValue`.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// The code's text.
        public var description: String { rawValue }
    }

    /// Structured facts about the error, each optional: what a caller may need
    /// beyond the sentence (the line to point an editor at, the key to
    /// highlight, the field of a form, the id of an object).
    public struct Context: Sendable, Hashable {
        /// The file the error is about (a config, a zone file, a scenario).
        public var file: String?
        /// The 1-based line in `file` (or in the input).
        public var line: Int?
        /// The 1-based column on `line`.
        public var column: Int?
        /// The 0-based byte offset in the input.
        public var offset: Int?
        /// A configuration key path (`mqtt.port`, `expect[2].zone`).
        public var key: String?
        /// A field of a request or payload (`created_by`, `end`).
        public var field: String?
        /// The id of the object the error is about (a case, a silence, a camera).
        public var id: String?
        /// For a message refused by the decoders: the dead-letter reason it is stored under.
        public var reason: DeadLetterReason?
        /// Other facts by name, for codes whose facts have no field above.
        public var values: [String: String]

        /// A context with the facts given; the others are nil.
        public init(file: String? = nil, line: Int? = nil, column: Int? = nil, offset: Int? = nil,
                    key: String? = nil, field: String? = nil, id: String? = nil,
                    reason: DeadLetterReason? = nil, values: [String: String] = [:]) {
            self.file = file
            self.line = line
            self.column = column
            self.offset = offset
            self.key = key
            self.field = field
            self.id = id
            self.reason = reason
            self.values = values
        }
    }

    /// What kind of error this is.
    public let code: Code
    /// What went wrong, without the place (`"is required"`, `"unexpected end of input"`).
    public let message: String
    /// The facts behind the message.
    public let context: Context
    /// The one line a person reads: the message with its place, as the CLI
    /// prints it and the logs show it (`"hub.yaml:12: key 'mqtt.port': must be 1…65535"`).
    public let description: String
    /// The error this one wraps (a system call's, a library's), if any.
    public let underlying: (any Error & Sendable)?
    /// Where in the hub's source the error was made (`#fileID:#line`), for a developer reading a log.
    public let origin: String

    /// An error of `code` saying `message`.
    ///
    /// - Parameters:
    ///   - code: the kind of error.
    ///   - message: what went wrong.
    ///   - context: the facts behind it.
    ///   - description: the rendered line; `message` when nil.
    ///   - underlying: a wrapped error.
    public init(_ code: Code, _ message: String, context: Context = Context(), description: String? = nil,
                underlying: (any Error & Sendable)? = nil, fileID: StaticString = #fileID, line: UInt = #line) {
        self.code = code
        self.message = message
        self.context = context
        self.description = description ?? message
        self.underlying = underlying
        self.origin = "\(fileID):\(line)"
    }

    /// A fact of the context, read as a member of the error (`error.line`).
    public subscript<T>(dynamicMember path: KeyPath<Context, T>) -> T { context[keyPath: path] }

    /// Same code, message, context and description.
    public static func == (a: HubError, b: HubError) -> Bool {
        a.code == b.code && a.message == b.message && a.context == b.context && a.description == b.description
    }

    /// Hashes what `==` compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(context)
        hasher.combine(description)
    }
}
