// The server side of RFC 6455 framing over a byte connection we hold ourselves (the
// plaintext of TLS terminated in-process at the front door), as a mux Transport: the
// tunnel's WebSocket then needs no second listener and no loopback hop. Bun's WebSocket
// server only runs inside Bun.serve, which cannot adopt a connection.
//
// Bounded by construction: only a frame header (at most 14 bytes) or a control frame's
// payload (at most 125 bytes) is ever buffered; binary payload is unmasked in place and
// handed on piece by piece as it arrives (the mux reads a byte stream; message
// boundaries carry no meaning). Outgoing frames are one write each, and send() reports
// the connection's back-pressure.
import { createHash } from "node:crypto";
import type { DuplexConnection } from "../net/connection.ts";
import { CloseCode, TransportBase } from "./transport.ts";
import { releaseBuffer } from "../net/release-buffer.ts";

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 4.2.2). */
export function websocketAccept(key: string): string {
  return createHash("sha1").update(key + WS_GUID).digest("base64");
}

/** A valid Sec-WebSocket-Key: base64 of 16 bytes. */
export function isWebSocketKey(key: string | undefined): key is string {
  return typeof key === "string" && /^[A-Za-z0-9+/]{22}==$/.test(key);
}

/** The 101 response that completes the handshake. */
export function websocketUpgradeResponse(key: string): Uint8Array {
  return new TextEncoder().encode(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${websocketAccept(key)}\r\n\r\n`,
  );
}

const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

export interface WebSocketFramingOptions {
  /** Largest message payload accepted (default 1 MiB, as the Bun.serve endpoint). */
  maxPayload?: number;
}

/** Server-side WebSocket framing as a mux Transport over `conn` (already upgraded, paused or not). */
export class WebSocketFramingTransport extends TransportBase {
  private readonly maxPayload: number;
  private head = new Uint8Array(14);
  private headLen = 0;
  /** Payload bytes of the current frame still to come. */
  private left = 0;
  private opcode = 0;
  /** Opcode of the message a continuation frame belongs to. */
  private messageOp = 0;
  private readonly mask = new Uint8Array(4);
  private maskPos = 0;
  private control: Uint8Array | null = null;
  private controlLen = 0;
  private closeSent = false;

  /** `initial`: bytes that arrived right behind the upgrade request (frames the client sent early). */
  constructor(
    private readonly conn: DuplexConnection,
    opts: WebSocketFramingOptions = {},
    initial?: Uint8Array,
  ) {
    super();
    this.maxPayload = opts.maxPayload ?? 1024 * 1024;
    const fresh = conn.freshReads === true;
    conn.ondata = (bytes) => this.receive(bytes, fresh);
    conn.ondrain = () => this.deliverDrain();
    conn.onend = () => {
      this.isClosed = true;
      conn.end();
      this.deliverClose(CloseCode.ABNORMAL, "connection ended");
    };
    conn.onclose = (err) => {
      this.isClosed = true;
      this.deliverClose(CloseCode.ABNORMAL, err ? err.message : "connection closed");
    };
    if (initial && initial.length > 0) this.receive(initial);
    conn.resume();
  }

  send(bytes: Uint8Array): boolean {
    if (this.isClosed) return false;
    return this.conn.write(frame(OP_BINARY, bytes));
  }

  /**
   * The largest server frame header (2 bytes + a 64-bit length), when the connection
   * copies what it does not send at once (the session reuses its buffer after the call);
   * 0 (no zero-copy sends) over a connection that may keep a reference.
   */
  get headroom(): number {
    return this.conn.copiesWrites === true ? 10 : 0;
  }

  sendAfterHeadroom(bytes: Uint8Array): boolean {
    if (this.isClosed) return false;
    const len = bytes.length;
    const hl = headerLength(len);
    if (bytes.byteOffset < hl) return this.send(bytes);
    const out = new Uint8Array(bytes.buffer, bytes.byteOffset - hl, hl + len);
    writeHeader(out, OP_BINARY, len, hl);
    return this.conn.write(out);
  }

  close(code: number = CloseCode.NORMAL, reason = ""): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.sendClose(code, reason);
    this.conn.end();
    // The session learns of its own close through the transport, like the other transports.
    this.deliverClose(code, reason);
  }

  private sendClose(code: number, reason: string): void {
    if (this.closeSent) return;
    this.closeSent = true;
    const text = new TextEncoder().encode(reason).subarray(0, 123);
    const payload = new Uint8Array(2 + text.length);
    payload[0] = code >> 8;
    payload[1] = code & 0xff;
    payload.set(text, 2);
    this.conn.write(frame(OP_CLOSE, payload));
  }

  private fail(code: number, reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.sendClose(code, reason);
    this.conn.end();
    this.deliverClose(code, reason);
  }

  private receive(chunk: Uint8Array, fresh = false): void {
    let at = 0;
    const n = chunk.length;
    let kept = false;
    while (at < n && !this.isClosed) {
      if (this.left === 0 && this.control === null) {
        // Frame header: byte 0, byte 1, extended length, mask key.
        while (at < n && this.headLen < this.needHead()) this.head[this.headLen++] = chunk[at++]!;
        if (this.headLen < this.needHead()) break; // the rest of the header comes in a later chunk
        if (!this.startFrame()) return;
        if (this.left === 0 && this.control === null) continue; // empty data frame
        if (this.left === 0) {
          this.endControl();
          continue;
        }
      }
      const take = Math.min(this.left, n - at);
      const piece = chunk.subarray(at, at + take);
      at += take;
      this.left -= take;
      this.unmask(piece);
      if (this.control !== null) {
        this.control.set(piece, this.controlLen);
        this.controlLen += take;
        if (this.left === 0) this.endControl();
      } else if (!this.deliverData(piece)) {
        kept = true;
      }
    }
    if (fresh && !kept) releaseBuffer(chunk);
  }

  /** Header bytes needed for the header read so far. */
  private needHead(): number {
    if (this.headLen < 2) return 2;
    const len7 = this.head[1]! & 0x7f;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + 4;
  }

  /** Parses a complete header; false when the connection was failed. */
  private startFrame(): boolean {
    const h = this.head;
    this.headLen = 0;
    const fin = (h[0]! & 0x80) !== 0;
    if ((h[0]! & 0x70) !== 0) return this.failed(CloseCode.PROTOCOL_ERROR, "reserved bits set (no extension was negotiated)");
    const op = h[0]! & 0x0f;
    if ((h[1]! & 0x80) === 0) return this.failed(CloseCode.PROTOCOL_ERROR, "unmasked client frame");
    const len7 = h[1]! & 0x7f;
    let len: number;
    let m = 2;
    if (len7 === 126) {
      len = (h[2]! << 8) | h[3]!;
      m = 4;
    } else if (len7 === 127) {
      const hi = ((h[2]! << 24) >>> 0) + (h[3]! << 16) + (h[4]! << 8) + h[5]!;
      if (hi !== 0) return this.failed(1009, "message too big");
      len = ((h[6]! << 24) >>> 0) + (h[7]! << 16) + (h[8]! << 8) + h[9]!;
      m = 10;
    } else {
      len = len7;
    }
    this.mask.set(h.subarray(m, m + 4));
    this.maskPos = 0;
    if (op >= 0x8) {
      if (!fin || len > 125) return this.failed(CloseCode.PROTOCOL_ERROR, "bad control frame");
      if (op !== OP_CLOSE && op !== OP_PING && op !== OP_PONG) return this.failed(CloseCode.PROTOCOL_ERROR, `unknown opcode ${op}`);
      this.opcode = op;
      this.control = new Uint8Array(len);
      this.controlLen = 0;
      this.left = len;
      return true;
    }
    if (op === OP_CONT) {
      if (this.messageOp === 0) return this.failed(CloseCode.PROTOCOL_ERROR, "continuation without a message");
    } else if (op === OP_BINARY || op === OP_TEXT) {
      if (this.messageOp !== 0) return this.failed(CloseCode.PROTOCOL_ERROR, "new message inside a fragmented one");
      if (op === OP_TEXT) return this.failed(CloseCode.UNSUPPORTED_DATA, "text message on a binary tunnel");
      this.messageOp = op;
    } else {
      return this.failed(CloseCode.PROTOCOL_ERROR, `unknown opcode ${op}`);
    }
    if (len > this.maxPayload) return this.failed(1009, "message too big");
    this.messageOp = fin ? 0 : this.messageOp;
    this.opcode = OP_BINARY;
    this.left = len;
    return true;
  }

  private failed(code: number, reason: string): false {
    this.fail(code, reason);
    return false;
  }

  private endControl(): void {
    const payload = this.control!.subarray(0, this.controlLen);
    const op = this.opcode;
    this.control = null;
    if (op === OP_PING) {
      if (!this.isClosed) this.conn.write(frame(OP_PONG, payload));
    } else if (op === OP_CLOSE) {
      const code = payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : 1005;
      const reason = new TextDecoder().decode(payload.subarray(2));
      if (!this.isClosed) {
        this.isClosed = true;
        this.sendClose(code === 1005 ? CloseCode.NORMAL : code, "");
        this.conn.end();
      }
      this.deliverClose(code, reason);
    }
  }

  private unmask(piece: Uint8Array): void {
    const m = this.mask;
    let p = this.maskPos;
    const len = piece.length;
    let i = 0;
    if (len >= 64 && LITTLE_ENDIAN) {
      // Byte by byte up to a 4-byte aligned address, then a word at a time: the mask
      // rotated to the current position, read as one little-endian word.
      for (; (piece.byteOffset + i) & 3; i++, p = (p + 1) & 3) piece[i]! ^= m[p]!;
      const key = (m[p]! | (m[(p + 1) & 3]! << 8) | (m[(p + 2) & 3]! << 16) | (m[(p + 3) & 3]! << 24)) | 0;
      const words = (len - i) >>> 2;
      const w = new Int32Array(piece.buffer, piece.byteOffset + i, words);
      for (let k = 0; k < words; k++) w[k]! ^= key;
      i += words << 2;
    }
    for (; i < len; i++, p = (p + 1) & 3) piece[i]! ^= m[p]!;
    this.maskPos = p;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** One unmasked server frame (FIN set): header and payload in one buffer, one write. */
function frame(op: number, payload: Uint8Array): Uint8Array {
  const len = payload.length;
  const hl = headerLength(len);
  const out = new Uint8Array(hl + len);
  writeHeader(out, op, len, hl);
  out.set(payload, hl);
  return out;
}

function headerLength(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

/** A server frame header (FIN set, no mask) for a payload of `len` bytes at the start of `out`. */
function writeHeader(out: Uint8Array, op: number, len: number, hl: number): void {
  out[0] = 0x80 | op;
  if (hl === 2) out[1] = len;
  else if (hl === 4) {
    out[1] = 126;
    out[2] = len >> 8;
    out[3] = len & 0xff;
  } else {
    out[1] = 127;
    // A send is far below 4 GiB: the high half of the length is 0.
    out[2] = out[3] = out[4] = out[5] = 0;
    out[6] = len >>> 24;
    out[7] = (len >>> 16) & 0xff;
    out[8] = (len >>> 8) & 0xff;
    out[9] = len & 0xff;
  }
}
