import HTTPTypes
import HummingbirdCore
import NIOCore
import NIOHTTPTypes

/// Bounds how long one request may hold a connection with a body it sends
/// slowly, below the HTTP codec in each connection's pipeline:
///
/// - **Answered before its body arrived** (a missing or wrong token, a body
///   over the limit, a media type refused): Hummingbird would go on reading and
///   discarding the rest of the body to keep the connection, however slowly it
///   comes, so a stranger with no token could hold every connection the server
///   accepts with a few bytes a minute each. The connection is closed instead,
///   `lingerAfterEarlyAnswer` after the answer is written (time for the client
///   to read it before the close).
/// - **A body still incomplete `bodyDeadline` after its head**: the connection is
///   closed. The idle timeout does not cover this: every byte that trickles in
///   restarts it.
///
/// A request without a body (a `GET`, the event stream) ends with its head,
/// so neither applies to it.
final class RequestBodyGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let lingerAfterEarlyAnswer = TimeAmount.seconds(1)

    private let bodyDeadline: TimeAmount
    /// Requests whose end arrived, and responses whose end was written: a response answers the
    /// oldest request not yet answered (HTTP/1.1 answers in order, pipelined requests too), so it
    /// comes before its request's body ended exactly when `requestsEnded <= responsesEnded`.
    private var requestsEnded = 0
    private var responsesEnded = 0
    private var deadline: Scheduled<Void>?
    private var closing = false

    init(bodyDeadline: TimeAmount) {
        self.bodyDeadline = bodyDeadline
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            deadline?.cancel()
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            deadline = context.eventLoop.scheduleTask(in: bodyDeadline) {
                loopBound.value.close(promise: nil)
            }
        case .end:
            requestsEnded += 1
            deadline?.cancel()
            deadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        let early = requestsEnded <= responsesEnded
        responsesEnded += 1
        guard early, !closing else {
            context.write(data, promise: promise)
            return
        }
        // The answer is complete and the request's body is not: no more requests on this connection.
        closing = true
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { _ in
            loopBound.value.eventLoop.scheduleTask(in: Self.lingerAfterEarlyAnswer) { loopBound.value.close(promise: nil) }
        }
        written.futureResult.cascade(to: promise)
        context.write(data, promise: written)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }
}
