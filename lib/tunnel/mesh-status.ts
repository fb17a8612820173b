// Mesh streams (client → server, `dial` metadata) begin with one status byte from the
// server: 0 when the destination was connected, otherwise the SOCKS reply code that says
// why not (RFC 1928 §6), so a local SOCKS listener can answer its client truthfully.
import type { DuplexConnection } from "../net/connection.ts";
import { copyBytes } from "../net/release-buffer.ts";

export const MESH_OK = 0;

export interface MeshStatus {
  reply: number;
  /** Bytes that arrived in the same chunk after the status byte. */
  rest: Uint8Array;
}

/** Reads the status byte; resolves with the reply (0x01 general failure if the stream closes first). */
export function readMeshStatus(stream: DuplexConnection, timeoutMs = 15_000): Promise<MeshStatus> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (s: MeshStatus) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.ondata = undefined;
      stream.onclose = undefined;
      stream.onend = undefined;
      stream.pause();
      resolve(s);
    };
    const timer = setTimeout(() => {
      finish({ reply: 0x04, rest: new Uint8Array(0) });
      stream.reset();
    }, timeoutMs);
    stream.ondata = (bytes) => {
      if (bytes.length) finish({ reply: bytes[0]!, rest: copyBytes(bytes.subarray(1)) });
    };
    stream.onend = () => finish({ reply: 0x01, rest: new Uint8Array(0) });
    stream.onclose = () => finish({ reply: 0x01, rest: new Uint8Array(0) });
    stream.resume();
  });
}
