// The tunnel wire protocol: every frame type, its payload rules and its typed struct.
// Framing (encode / incremental decode) lives in codec.ts; sockets live in lib/mux.
//
// Wire layout of one frame (big endian):
//
//   +--------+----------------+----------------+=================+
//   | type   | stream id      | payload length | payload ...     |
//   | u8     | u32            | u32            | length bytes    |
//   +--------+----------------+----------------+=================+
//
// Stream frames (OPEN, DATA, WINDOW_UPDATE, FIN, RST) carry a non-zero stream id;
// session frames (PING, PONG, MESSAGE, GOAWAY) carry stream id 0. Stream ids opened by
// the client side are odd, ids opened by the server side are even, so both ends can
// open streams at the same time without a round trip or a collision.
//
// Flow control is per stream and credit based (like HTTP/2 and yamux): each side may
// send PROTOCOL_INITIAL_WINDOW bytes of DATA on a fresh stream, then only as much as the
// peer granted with WINDOW_UPDATE. A receiver that wants a larger window announces the
// difference with a WINDOW_UPDATE right after OPEN (opener) or upon OPEN (acceptor).

/** Bumped on any incompatible change; the tunnel layer exchanges it when connecting. */
export const PROTOCOL_VERSION = 1;

export const FRAME_HEADER_SIZE = 9;

/** Default limit of a frame payload accepted by a decoder. */
export const DEFAULT_MAX_PAYLOAD = 256 * 1024;

/** DATA credit each side starts with on every stream, before any WINDOW_UPDATE. */
export const PROTOCOL_INITIAL_WINDOW = 256 * 1024;

/** Largest stream id and largest window increment (u32). */
export const MAX_STREAM_ID = 0xffff_ffff;
export const MAX_WINDOW_INCREMENT = 0xffff_ffff;

/** The one-byte frame type table. */
export const FrameType = {
  /** Opens a stream. Payload: opaque metadata chosen by the opener (the tunnel layer puts JSON). */
  OPEN: 0x01,
  /** Stream bytes. Counts against the receiver's window. */
  DATA: 0x02,
  /** Payload: u32 credit increment (> 0) for the stream's sender. */
  WINDOW_UPDATE: 0x03,
  /** Half-close: the sender will send no more DATA on the stream. Empty payload. */
  FIN: 0x04,
  /** Abortive close of both directions. Payload: one byte reason code (RstCode). */
  RST: 0x05,
  /** Keepalive probe. Payload: 8 opaque bytes, echoed in PONG. */
  PING: 0x06,
  /** Answer to PING with the same 8 bytes. */
  PONG: 0x07,
  /** Application control message on stream 0. Payload: opaque (the tunnel layer puts JSON). */
  MESSAGE: 0x08,
  /** The sender is closing the session. Payload: u8 GoAwayCode, then an optional UTF-8 reason. */
  GOAWAY: 0x09,
} as const;

export type FrameTypeName = keyof typeof FrameType;
export type FrameTypeCode = (typeof FrameType)[FrameTypeName];

const TYPE_NAMES: (FrameTypeName | undefined)[] = [];
for (const [name, code] of Object.entries(FrameType)) TYPE_NAMES[code] = name as FrameTypeName;

export function frameTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `UNKNOWN(0x${type.toString(16).padStart(2, "0")})`;
}

export function isKnownFrameType(type: number): type is FrameTypeCode {
  return type >= FrameType.OPEN && type <= FrameType.GOAWAY;
}

/** True for the frame types that belong to a stream (non-zero stream id). */
export function isStreamFrameType(type: number): boolean {
  return type >= FrameType.OPEN && type <= FrameType.RST;
}

/** Reasons carried by RST. Values 0x00-0x0f are the protocol's; 0x10-0xff are free for the application. */
export const RstCode = {
  /** The application cancelled the stream (a local socket error, a user abort). */
  CANCEL: 0x00,
  /** The receiver does not accept the stream (no handler, too many streams, going away). */
  REFUSED: 0x01,
  /** The peer broke the protocol on this stream (duplicate OPEN, DATA after FIN, ...). */
  PROTOCOL_ERROR: 0x02,
  /** The peer sent more DATA than its credit. */
  FLOW_CONTROL: 0x03,
  /** A handler failed on the receiving side. */
  INTERNAL: 0x04,
  /** The target named in the OPEN metadata could not be reached. */
  CONNECT_FAILED: 0x05,
  /** The stream's write buffer overflowed because the caller ignored backpressure. */
  BUFFER_OVERFLOW: 0x06,
} as const;
export type RstCodeName = keyof typeof RstCode;

const RST_NAMES: string[] = [];
for (const [name, code] of Object.entries(RstCode)) RST_NAMES[code] = name;
export function rstCodeName(code: number): string {
  return RST_NAMES[code] ?? `code ${code}`;
}

/** Reasons carried by GOAWAY. */
export const GoAwayCode = {
  NORMAL: 0x00,
  PROTOCOL_ERROR: 0x01,
  INTERNAL: 0x02,
  /** The peer did not read while the sender had bounded data to deliver (control backlog). */
  OVERLOADED: 0x03,
} as const;

const GOAWAY_NAMES: string[] = [];
for (const [name, code] of Object.entries(GoAwayCode)) GOAWAY_NAMES[code] = name;
export function goAwayCodeName(code: number): string {
  return GOAWAY_NAMES[code] ?? `code ${code}`;
}

/** Why a byte stream was rejected. The decoder is unusable after one. */
export type ProtocolErrorCode =
  | "UNKNOWN_TYPE"
  | "BAD_STREAM_ID"
  | "FRAME_TOO_LARGE"
  | "BAD_LENGTH"
  | "BAD_PAYLOAD"
  | "TRUNCATED";

export class ProtocolError extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ProtocolError";
  }
}

// ---- typed structs ------------------------------------------------------------------

export interface OpenFrame {
  type: typeof FrameType.OPEN;
  streamId: number;
  meta: Uint8Array;
}
export interface DataFrame {
  type: typeof FrameType.DATA;
  streamId: number;
  data: Uint8Array;
}
export interface WindowUpdateFrame {
  type: typeof FrameType.WINDOW_UPDATE;
  streamId: number;
  increment: number;
}
export interface FinFrame {
  type: typeof FrameType.FIN;
  streamId: number;
}
export interface RstFrame {
  type: typeof FrameType.RST;
  streamId: number;
  code: number;
}
export interface PingFrame {
  type: typeof FrameType.PING;
  streamId: 0;
  opaque: Uint8Array;
}
export interface PongFrame {
  type: typeof FrameType.PONG;
  streamId: 0;
  opaque: Uint8Array;
}
export interface MessageFrame {
  type: typeof FrameType.MESSAGE;
  streamId: 0;
  body: Uint8Array;
}
export interface GoAwayFrame {
  type: typeof FrameType.GOAWAY;
  streamId: 0;
  code: number;
  reason: string;
}

export type Frame =
  | OpenFrame
  | DataFrame
  | WindowUpdateFrame
  | FinFrame
  | RstFrame
  | PingFrame
  | PongFrame
  | MessageFrame
  | GoAwayFrame;

// ---- small constructors ---------------------------------------------------------------

const EMPTY = new Uint8Array(0);

export const openFrame = (streamId: number, meta: Uint8Array = EMPTY): OpenFrame => ({ type: FrameType.OPEN, streamId, meta });
export const dataFrame = (streamId: number, data: Uint8Array): DataFrame => ({ type: FrameType.DATA, streamId, data });
export const windowUpdateFrame = (streamId: number, increment: number): WindowUpdateFrame => ({
  type: FrameType.WINDOW_UPDATE,
  streamId,
  increment,
});
export const finFrame = (streamId: number): FinFrame => ({ type: FrameType.FIN, streamId });
export const rstFrame = (streamId: number, code: number = RstCode.CANCEL): RstFrame => ({ type: FrameType.RST, streamId, code });
export const pingFrame = (opaque: Uint8Array): PingFrame => ({ type: FrameType.PING, streamId: 0, opaque });
export const pongFrame = (opaque: Uint8Array): PongFrame => ({ type: FrameType.PONG, streamId: 0, opaque });
export const messageFrame = (body: Uint8Array): MessageFrame => ({ type: FrameType.MESSAGE, streamId: 0, body });
export const goAwayFrame = (code: number = GoAwayCode.NORMAL, reason = ""): GoAwayFrame => ({
  type: FrameType.GOAWAY,
  streamId: 0,
  code,
  reason,
});

// ---- payload rules ----------------------------------------------------------------------

/**
 * Checks what the 9-byte header alone can tell (type, stream id, length) so a decoder
 * rejects a bad frame before buffering its payload. Returns an error or undefined.
 */
export function checkFrameHeader(type: number, streamId: number, length: number, maxPayload: number): ProtocolError | undefined {
  if (!isKnownFrameType(type)) return new ProtocolError("UNKNOWN_TYPE", `unknown frame type 0x${type.toString(16).padStart(2, "0")}`);
  const name = TYPE_NAMES[type];
  if (type <= FrameType.RST) {
    if (streamId === 0) return new ProtocolError("BAD_STREAM_ID", `${name} frame on stream 0`);
  } else if (streamId !== 0) {
    return new ProtocolError("BAD_STREAM_ID", `${name} frame on stream ${streamId} (session frames use stream 0)`);
  }
  switch (type) {
    case FrameType.WINDOW_UPDATE:
      if (length !== 4) return new ProtocolError("BAD_LENGTH", `WINDOW_UPDATE payload is ${length} bytes, expected 4`);
      return undefined;
    case FrameType.FIN:
      if (length !== 0) return new ProtocolError("BAD_LENGTH", `FIN payload is ${length} bytes, expected 0`);
      return undefined;
    case FrameType.RST:
      if (length !== 1) return new ProtocolError("BAD_LENGTH", `RST payload is ${length} bytes, expected 1`);
      return undefined;
    case FrameType.PING:
    case FrameType.PONG:
      if (length !== 8) return new ProtocolError("BAD_LENGTH", `${name} payload is ${length} bytes, expected 8`);
      return undefined;
    case FrameType.GOAWAY:
      if (length < 1) return new ProtocolError("BAD_LENGTH", "GOAWAY payload is empty, expected a code");
      break;
  }
  if (length > maxPayload) return new ProtocolError("FRAME_TOO_LARGE", `${name} payload of ${length} bytes exceeds the limit of ${maxPayload}`);
  return undefined;
}

/** Reads a u32 big endian (the protocol's only integer width besides u8). */
export function readU32(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

const textDecoder = new TextDecoder("utf-8", { fatal: false });

/**
 * Builds the typed struct of a frame whose header already passed checkFrameHeader.
 * Payload views are kept (no copy). Throws ProtocolError on a bad payload.
 */
export function toFrame(type: number, streamId: number, payload: Uint8Array): Frame {
  switch (type) {
    case FrameType.OPEN:
      return openFrame(streamId, payload);
    case FrameType.DATA:
      return dataFrame(streamId, payload);
    case FrameType.WINDOW_UPDATE: {
      const inc = readU32(payload, 0);
      if (inc === 0) throw new ProtocolError("BAD_PAYLOAD", `WINDOW_UPDATE with a zero increment on stream ${streamId}`);
      return windowUpdateFrame(streamId, inc);
    }
    case FrameType.FIN:
      return finFrame(streamId);
    case FrameType.RST:
      return rstFrame(streamId, payload[0]!);
    case FrameType.PING:
      return pingFrame(payload);
    case FrameType.PONG:
      return pongFrame(payload);
    case FrameType.MESSAGE:
      return messageFrame(payload);
    case FrameType.GOAWAY:
      return goAwayFrame(payload[0]!, textDecoder.decode(payload.subarray(1)));
  }
  throw new ProtocolError("UNKNOWN_TYPE", `unknown frame type 0x${type.toString(16)}`);
}

function hex(bytes: Uint8Array, max = 16): string {
  let s = "";
  const n = Math.min(bytes.byteLength, max);
  for (let i = 0; i < n; i++) s += bytes[i]!.toString(16).padStart(2, "0");
  return bytes.byteLength > max ? `${s}...` : s;
}

function preview(bytes: Uint8Array, max = 64): string {
  const text = textDecoder.decode(bytes.subarray(0, max));
  // Printable metadata (JSON) reads better as text; anything else as hex.
  return /^[\x20-\x7e]*$/.test(text) ? JSON.stringify(text) + (bytes.byteLength > max ? "..." : "") : hex(bytes);
}

/** One line for logs and test failures, like remotedialer's String(). */
export function describeFrame(f: Frame): string {
  switch (f.type) {
    case FrameType.OPEN:
      return `OPEN stream=${f.streamId} meta=${preview(f.meta)} (${f.meta.byteLength} bytes)`;
    case FrameType.DATA:
      return `DATA stream=${f.streamId} len=${f.data.byteLength}`;
    case FrameType.WINDOW_UPDATE:
      return `WINDOW_UPDATE stream=${f.streamId} increment=${f.increment}`;
    case FrameType.FIN:
      return `FIN stream=${f.streamId}`;
    case FrameType.RST:
      return `RST stream=${f.streamId} code=${rstCodeName(f.code)}`;
    case FrameType.PING:
      return `PING opaque=${hex(f.opaque)}`;
    case FrameType.PONG:
      return `PONG opaque=${hex(f.opaque)}`;
    case FrameType.MESSAGE:
      return `MESSAGE len=${f.body.byteLength} body=${preview(f.body)}`;
    case FrameType.GOAWAY:
      return `GOAWAY code=${goAwayCodeName(f.code)}${f.reason ? ` reason=${JSON.stringify(f.reason)}` : ""}`;
  }
}
