import Alerts
import AlertsStore
import Reports
import Hummingbird

/// Every error the dispatch-room API answers with: a status, the body
/// `{"error": {"message": "..."}}` and, for some, headers (`Retry-After`,
/// `WWW-Authenticate`).
///
/// Routes and middleware throw it for what the HTTP layer itself decides (a
/// bad query parameter, an unknown id, a missing token); the store's own
/// errors pass through unchanged and `init?(mapping:)` turns them into one
/// of these, in this one place, when `SecurityHeadersMiddleware` answers.
public struct APIError: HTTPResponseError, CustomStringConvertible {
    /// The response's status.
    public var status: HTTPResponse.Status
    /// What went wrong, for the person reading the answer.
    public var message: String
    /// Extra headers of the answer.
    public var headers: HTTPFields

    /// Messages quote what the caller sent (an id from the path, a field's
    /// value, a header): longer ones are cut, so an answer never echoes a
    /// 1 MiB body or a long URL back.
    static let maxMessageBytes = 1024

    /// An error answered with `status` and `message` (cut at `maxMessageBytes`).
    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = DecodeLimits.truncated(message, maxBytes: Self.maxMessageBytes)
        self.headers = headers
    }

    /// 400: a request the API cannot read (a parameter or field named in the message).
    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }
    /// 404: no such object.
    static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }
    /// 400 naming a query parameter.
    static func parameter(_ name: String, _ message: String) -> APIError { .badRequest("query parameter '\(name)': \(message)") }
    /// 400 naming a body field.
    static func field(_ name: String, _ message: String) -> APIError { .badRequest("field '\(name)': \(message)") }

    /// The HTTP answer to an error of the domain (the store, the case
    /// lifecycle, silences, reports), chosen by its `HubError.Code`; nil for an
    /// error the API does not know, which is a 500.
    public init?(mapping error: any Error) {
        switch error {
        case let e as APIError:
            self = e
        case let e as HubError:
            switch e.code {
            case .unknownCase: self.init(.notFound, e.message)
            case .illegalTransition: self.init(.conflict, e.message)
            case .invalidAction: self.init(.badRequest, e.message)
            case .invalidSilence where e.field == "id":
                // The silence exists but has ended already: its state forbids ending it again.
                self.init(.conflict, e.message)
            case .invalidSilence:
                self = .field(e.field ?? "", e.message)
            case .storeBusy:
                self.init(.serviceUnavailable, e.message, headers: [.retryAfter: "5"])
            case .postgresStore where e.context.values["sqlstate"] == nil:
                // The PostgreSQL store cannot be reached (no answer, a closed connection): not the request's fault.
                self.init(.serviceUnavailable, "the dispute store cannot be reached now; try again", headers: [.retryAfter: "5"])
            case .reportUnavailable:
                let kind = e.id ?? ""
                self.init(ReportCatalog.kinds.contains(kind) ? .notImplemented : .notFound, "\(e)")
            default:
                return nil
            }
        default:
            return nil
        }
    }

    /// The answer: the status, the headers and the JSON body (no trailing newline).
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: try APIEncoding.buffer(ErrorBody(message: message))))
    }

    /// `HTTPError: Not Found, no case AJ-1` (as the log shows it).
    public var description: String { "APIError: \(status.reasonPhrase), \(message)" }
}

/// `{"error": {"message": "..."}}`.
struct ErrorBody: Encodable {
    struct Detail: Encodable { var message: String }
    var error: Detail

    init(message: String) { error = Detail(message: message) }
}
