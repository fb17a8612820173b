// Control messages between pktriot and spokes. They travel as JSON inside mux MESSAGE
// frames on the control connection (stream 0), never on the data path. Stream OPEN
// metadata (what a new stream carries) is defined here too, as compact JSON.
import type { FirewallRule } from "../http/firewall.ts";

/** An HTTP rule as the client announces it (SPEC 3.1 `https[]`; secrets stay hashed). */
export interface HttpRuleAnnounce {
  domain: string;
  /**
   * Raw TLS for this name goes to the client: it terminates it (custom certificate, Let's
   * Encrypt on the client) or pipes it untouched to a TLS upstream (`tls` pass-through).
   */
  ownCertificate: boolean;
  /**
   * The client orders this name's certificate itself (Let's Encrypt) and answers HTTP-01:
   * plain-HTTP requests under `/.well-known/acme-challenge/` go to it past the rule's
   * redirect, basic auth and firewall (the CA validates from anywhere).
   */
  answersAcme?: boolean;
  redirect: boolean;
  rewriteHost: string;
  /** `user:<argon2id hash>` or "". Checked by the server on every request. */
  basicHttpAuth: string;
  firewall: FirewallRule[];
  /** Set when the client cannot serve it (no upstream, webroot missing...). */
  available?: boolean;
  /** Who may reach it through the mesh (`tunnel:<id>`, `user:<name or id>`); absent or empty: any tunnel. */
  meshAllow?: string[];
}

export interface PortRuleAnnounce {
  port: number;
  /** False when the port is allocated but has no forward. */
  forwarded: boolean;
  firewall: FirewallRule[];
  /** Mesh only: the server opens no public listener for it. */
  private?: boolean;
  /** As HttpRuleAnnounce.meshAllow. */
  meshAllow?: string[];
}

export interface ClientInfo {
  os: string;
  arch: string;
  version: string;
}

export type ClientMessage =
  /** `config` is the whole client file (SPEC 3.1), kept for `tunnel/config/{id}` and remote edits. */
  | { type: "hello"; info: ClientInfo; https: HttpRuleAnnounce[]; ports: PortRuleAnnounce[]; config?: unknown }
  | { type: "rules"; https: HttpRuleAnnounce[]; ports: PortRuleAnnounce[]; config?: unknown }
  | { type: "monitor"; services: { kind: "http" | "tcp"; name: string; available: boolean }[] }
  | { type: "applied"; requestId: string; ok: boolean; error?: string };

export interface RuleRefusal {
  rule: string;
  reason: string;
}

export type ServerMessage =
  | { type: "welcome"; tunnelID: string; session: string; poolSize: number; hostname: string; monitorSeconds: number; refused: RuleRefusal[] }
  | { type: "rulesResult"; refused: RuleRefusal[] }
  | { type: "refused"; reason: string }
  | { type: "shutdown"; reason: string }
  /** Remote management from the dashboard/API: the client applies, saves and re-announces. */
  | { type: "apply"; requestId: string; change: unknown };

/** Metadata of a stream the server opens toward the client. */
export type ServerStreamMeta =
  /** Plain HTTP bytes (the server terminated TLS, or it was plain HTTP) for this domain. */
  | { t: "http"; d: string; r: string; s: boolean }
  /** Raw TLS for a domain whose rule carries its own certificate. */
  | { t: "tls"; d: string; r: string }
  /** A connection to an allocated TCP port. */
  | { t: "tcp"; p: number; r: string }
  /** A mesh connection from another tunnel or a SOCKS client to one of this tunnel's services. */
  | { t: "svc"; h: string; p: number; r: string };

/** Metadata of a stream the client opens toward the server (mesh: ports map, local SOCKS). */
export type ClientStreamMeta = { t: "dial"; h: string; p: number };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parses JSON from the peer; returns undefined instead of throwing on garbage. */
export function decodeJson<T>(bytes: Uint8Array, maxBytes = 1 << 20): T | undefined {
  if (bytes.byteLength > maxBytes) return undefined;
  try {
    const v = JSON.parse(decoder.decode(bytes));
    return v && typeof v === "object" && !Array.isArray(v) ? (v as T) : undefined;
  } catch {
    return undefined;
  }
}
