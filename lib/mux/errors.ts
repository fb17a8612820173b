/** Why a session or a stream ended, or why an operation was refused. */
export type MuxErrorCode =
  // Session ends.
  | "CLOSED" // session.close() on this side
  | "GOAWAY" // the peer sent GOAWAY and closed
  | "TRANSPORT_CLOSED" // the connection went away without GOAWAY
  | "KEEPALIVE_TIMEOUT" // nothing received for keepalive.timeoutMs
  | "PROTOCOL_ERROR" // the peer broke the protocol (session) or the stream rules (stream)
  | "OVERLOADED" // the peer let our control backlog grow past its bound
  // Stream ends.
  | "RESET" // stream.reset() on this side
  | "RESET_BY_PEER" // RST received; rstCode says why
  | "SESSION_CLOSED" // the session ended under the stream; cause is the session's MuxError
  | "FLOW_CONTROL" // the peer sent more than its credit
  | "CALLBACK_ERROR" // an ondata/onend/onStream handler threw
  | "BUFFER_OVERFLOW" // write() was called far past its false return
  // Refused operations.
  | "NOT_OPEN" // openStream/sendMessage on a closed or going-away session
  | "TOO_MANY_STREAMS"
  | "TOO_LARGE";

export class MuxError extends Error {
  readonly code: MuxErrorCode;
  /** RST reason code for RESET / RESET_BY_PEER, GOAWAY code for GOAWAY. */
  readonly wireCode: number | undefined;
  /** True when the peer caused it (RST or GOAWAY received, peer protocol violation). */
  readonly remote: boolean;

  constructor(code: MuxErrorCode, message: string, opts: { wireCode?: number; remote?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "MuxError";
    this.code = code;
    this.wireCode = opts.wireCode;
    this.remote = opts.remote ?? false;
  }
}
