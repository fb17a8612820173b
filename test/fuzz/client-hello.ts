// ClientHello reader (lib/tls/client-hello.ts): the verdict after all bytes does not
// depend on how they were cut, `bytes()` replays exactly what was pushed, a reported
// SNI is a normalised host name, and an incomplete hello never holds more than the cap.
import { type ClientHelloReaderOptions, type ClientHelloResult, createClientHelloReader, readClientHello } from "../../lib/tls/client-hello.ts";
import { normalizeSniHostname } from "../../lib/net/hostname.ts";
import { chunks, concat } from "./mutate.ts";
import { int, pick, randomBytes, type Rng } from "./rng.ts";
import { check, type FuzzTarget } from "./target.ts";

const u16 = (n: number) => Uint8Array.of((n >> 8) & 0xff, n & 0xff);
const u24 = (n: number) => Uint8Array.of((n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);

function extension(type: number, body: Uint8Array): Uint8Array {
  return concat(u16(type), u16(body.length), body);
}

function serverName(...names: [number, string][]): Uint8Array {
  const list = concat(...names.map(([t, n]) => concat(Uint8Array.of(t), u16(n.length), new TextEncoder().encode(n))));
  return extension(0, concat(u16(list.length), list));
}

/** A ClientHello handshake message, cut into records of at most `recordSize` bytes. */
export function buildClientHello(opts: { extensions?: Uint8Array[]; recordSize?: number; recordMinor?: number; sessionId?: number } = {}): Uint8Array {
  const exts = concat(...(opts.extensions ?? []));
  const body = concat(
    Uint8Array.of(3, 3),
    new Uint8Array(32).fill(0x42),
    Uint8Array.of(opts.sessionId ?? 32),
    new Uint8Array(opts.sessionId ?? 32).fill(0x11),
    u16(6),
    Uint8Array.of(0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f),
    Uint8Array.of(1, 0),
    opts.extensions ? concat(u16(exts.length), exts) : new Uint8Array(0),
  );
  const msg = concat(Uint8Array.of(1), u24(body.length), body);
  const size = opts.recordSize ?? 16384;
  const records: Uint8Array[] = [];
  for (let at = 0; at < msg.length; at += size) {
    const frag = msg.subarray(at, at + size);
    records.push(concat(Uint8Array.of(22, 3, opts.recordMinor ?? 1), u16(frag.length), frag));
  }
  return concat(...records);
}

const ALPN = extension(16, Uint8Array.of(0, 12, 2, 0x68, 0x32, 8, ...new TextEncoder().encode("http/1.1")));
const VERSIONS = extension(43, Uint8Array.of(4, 3, 4, 3, 3));
const PADDING = extension(21, new Uint8Array(512));

const seeds = [
  buildClientHello({ extensions: [serverName([0, "app.tunnel.example.test"]), ALPN, VERSIONS] }),
  buildClientHello({ extensions: [ALPN, serverName([0, "A.Example.TEST."]), PADDING], recordSize: 100 }),
  buildClientHello({ extensions: [serverName([0, "127.0.0.1"])], recordMinor: 3 }),
  buildClientHello({ extensions: [VERSIONS] }),
  buildClientHello({ sessionId: 0 }),
  buildClientHello({ extensions: [serverName([1, "other-type"], [0, "x.test"])], recordSize: 7 }),
];

/** Huge and odd server names: up to the u16 limit, which is far past the 16 KiB hello cap. */
function generate(rnd: Rng): Uint8Array {
  const len = pick(rnd, [63, 64, 253, 254, 255, 1000, 16_000, 17_000, 65_535]);
  const label = () => "a".repeat(1 + int(rnd, 63));
  let name = "";
  while (name.length < len) name += (name ? "." : "") + label();
  name = name.slice(0, len);
  if (rnd() < 0.2) name = name.replace(/a/, pick(rnd, ["_", "*", "\u00e9", " ", "\u0000"]));
  const extensions = [serverName([0, name])];
  if (rnd() < 0.3) extensions.push(extension(0xfe0d, randomBytes(rnd, int(rnd, 20_000))));
  return buildClientHello({ extensions, recordSize: pick(rnd, [16384, 1000, 37]) });
}

function final(r: ClientHelloResult): string {
  return r.status === "hello" ? `hello:${r.sni}` : r.status === "error" ? `error:${r.reason}` : r.status;
}

export const clientHelloTarget: FuzzTarget = {
  name: "clientHello",
  seeds,
  generate,
  run(input, rnd) {
    const opts: ClientHelloReaderOptions = rnd() < 0.7 ? {} : { maxHelloBytes: 512, maxBufferedBytes: 1024 };
    const maxBuffered = opts.maxBufferedBytes ?? (opts.maxHelloBytes ?? 16384) + 1024;
    const whole = readClientHello(input, opts);
    const reader = createClientHelloReader(opts);
    let pushed = 0;
    let r: ClientHelloResult = reader.result;
    for (const part of chunks(rnd, input)) {
      const before = r.status;
      r = reader.push(part);
      if (before === "error" || before === "notTls") check(r.status === before, "a refused hello changed its verdict");
      if (before !== "error" && before !== "notTls") pushed += part.length;
      if (r.status === "incomplete") check(reader.bytes().length <= maxBuffered, `reader holds ${reader.bytes().length} bytes, cap ${maxBuffered}`);
      if (r.status === "hello" || r.status === "incomplete") {
        check(reader.bytes().length === pushed, "bytes() does not replay what was pushed");
        check(Buffer.compare(reader.bytes(), input.subarray(0, pushed)) === 0, "bytes() replays other bytes");
      }
    }
    // Cut or whole, the verdict is the same; only the reason of a refusal may differ (a
    // hello in tiny records can pass the buffer cap when it arrives in one read).
    const sameVerdict = r.status === "error" ? whole.status === "error" || r.reason.startsWith("no complete ClientHello within") : final(r) === final(whole);
    check(sameVerdict, `chunked reading ended "${final(r)}", whole "${final(whole)}"`);
    if (r.status === "hello" && r.sni !== null) check(normalizeSniHostname(r.sni) === r.sni && r.sni.length <= 253, `SNI ${JSON.stringify(r.sni)} is not a normalised host name`);
    return r.status === "hello" ? (r.sni === null ? "hello:noSni" : "hello:sni") : r.status === "error" ? `error:${r.reason.replace(/\d+/g, "N")}` : r.status;
  },
};
