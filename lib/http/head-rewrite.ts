/**
 * Rewrites a parsed request head for the tunnel: X-Forwarded-* headers, Host
 * rewrite (an absolute-form target becomes origin-form), header removal and
 * setting. Other headers keep their order and case.
 */
import type { RequestHead } from "./request-head.ts";

/** Forward the request, with these edits to its head. */
export interface ForwardDecision {
  action: "forward";
  /** Appended to X-Forwarded-For (existing values kept, several headers merged into one). */
  forwardedFor?: string;
  /** Sets X-Forwarded-Proto, replacing what the client sent. */
  forwardedProto?: "http" | "https";
  /** Sets X-Forwarded-Host to the received Host header (true) or to this value. */
  forwardedHost?: boolean | string;
  /** Replaces the Host header value (rule `rewriteHost`); an absolute-form target becomes origin-form. */
  host?: string;
  /** Header names (lowercase) to drop. */
  removeHeaders?: readonly string[];
  /** Headers to set, replacing any of the same name. */
  setHeaders?: readonly (readonly [string, string])[];
}

/** The head as bytes for the tunnel, edited by the decision. */
export function buildForwardedHead(head: RequestHead, d: ForwardDecision): Buffer {
  const remove = d.removeHeaders;
  const set = d.setHeaders;
  const proto = d.forwardedProto;
  const fwdHost = d.forwardedHost === true ? head.hostHeader : d.forwardedHost || null;
  const rewriteHost = d.host;
  let target = head.target;
  if (rewriteHost !== undefined) {
    if (/[\r\n]/.test(rewriteHost)) throw new Error("Host value contains a line break");
    if (target.charCodeAt(0) !== 0x2f && target !== "*" && head.method !== "CONNECT") target = originForm(target);
  }
  let out = `${head.method} ${target} ${head.version}\r\n`;
  let xff: string | null = null;
  const { names, values, lowerNames } = head;
  for (let i = 0; i < names.length; i++) {
    const l = lowerNames[i];
    if (l.length >= 15 && l.charCodeAt(0) === 0x78 /* x */) {
      if (l === "x-forwarded-for" && d.forwardedFor !== undefined) {
        xff = xff === null ? values[i] : `${xff}, ${values[i]}`;
        continue;
      }
      if (l === "x-forwarded-proto" && proto !== undefined) continue;
      if (l === "x-forwarded-host" && fwdHost !== null) continue;
    }
    if (remove !== undefined && remove.includes(l)) continue;
    if (set !== undefined && hasName(set, l)) continue;
    if (l === "host" && rewriteHost !== undefined) {
      out += `${names[i]}: ${rewriteHost}\r\n`;
      continue;
    }
    out += `${names[i]}: ${values[i]}\r\n`;
  }
  if (d.forwardedFor !== undefined) out += `X-Forwarded-For: ${xff === null || xff === "" ? d.forwardedFor : `${xff}, ${d.forwardedFor}`}\r\n`;
  if (proto !== undefined) out += `X-Forwarded-Proto: ${proto}\r\n`;
  if (fwdHost !== null) out += `X-Forwarded-Host: ${fwdHost}\r\n`;
  if (set !== undefined) {
    for (const [n, v] of set) {
      if (/[\r\n]/.test(n) || /[\r\n]/.test(v)) throw new Error(`header ${JSON.stringify(n)} contains a line break`);
      out += `${n}: ${v}\r\n`;
    }
  }
  out += "\r\n";
  return Buffer.from(out, "latin1");
}

function hasName(set: readonly (readonly [string, string])[], lname: string): boolean {
  for (const [n] of set) if (n.length === lname.length && n.toLowerCase() === lname) return true;
  return false;
}

function originForm(absolute: string): string {
  const start = absolute.indexOf("://") + 3;
  let i = start;
  while (i < absolute.length) {
    const c = absolute.charCodeAt(i);
    if (c === 0x2f || c === 0x3f || c === 0x23) break;
    i++;
  }
  const rest = absolute.slice(i);
  return rest === "" ? "/" : rest.charCodeAt(0) === 0x2f ? rest : `/${rest}`;
}

export function isEmptyForward(d: ForwardDecision): boolean {
  return (
    d.forwardedFor === undefined &&
    d.forwardedProto === undefined &&
    !d.forwardedHost &&
    d.host === undefined &&
    (d.removeHeaders === undefined || d.removeHeaders.length === 0) &&
    (d.setHeaders === undefined || d.setHeaders.length === 0)
  );
}
