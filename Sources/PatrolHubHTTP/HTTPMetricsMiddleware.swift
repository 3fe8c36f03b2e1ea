import Hummingbird

/// Counts each answered request in `patrolhub_http_requests_total` by the
/// matched route's pattern (`/api/v1/cases/{id}`, never the path a client
/// sent, so no request creates a new series), method and status.
struct HTTPMetricsMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext
    let metrics: HubMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            metrics.httpRequest(route: context.endpointPath, method: request.method.rawValue, status: Int(response.status.code))
            return response
        } catch {
            metrics.httpRequest(route: context.endpointPath, method: request.method.rawValue, status: Int((error as? any HTTPResponseError)?.status.code ?? 500))
            throw error
        }
    }
}
