// applyRemoteChange: what the client does with a change the admin sent.
import { describe, expect, test } from "bun:test";
import { applyRemoteChange, parseRemoteChange } from "../../../lib/client-config/remote-change.ts";
import { defaultClientConfig, emptyHttpRule } from "../../../lib/client-config/types.ts";

const base = () => {
  const c = defaultClientConfig();
  c.https.push({ ...emptyHttpRule("a.example.com"), port: 80 });
  c.ports.push({ port: 22001, destination: "127.0.0.1", dstPort: 22, firewall: [] });
  c.portmaps.push({ listenPort: 6379, dstPort: 6379, destination: "redis", transport: "tcp", label: "", http: false });
  return c;
};

describe("applyRemoteChange", () => {
  test("is pure and applies each kind", () => {
    const c = base();
    const before = JSON.stringify(c);
    const n1 = applyRemoteChange(c, { kind: "http/update", sites: [{ ...emptyHttpRule("a.example.com"), port: 8080 }, { ...emptyHttpRule("b.example.com"), tls: 8443 }] });
    expect(JSON.stringify(c)).toBe(before);
    expect(n1.https.map((h) => [h.domain, h.port, h.tls])).toEqual([["a.example.com", 8080, 0], ["b.example.com", 0, 8443]]);
    expect(applyRemoteChange(n1, { kind: "http/remove", domains: ["A.example.com"] }).https.map((h) => h.domain)).toEqual(["b.example.com"]);
    expect(applyRemoteChange(c, { kind: "tcp/add", port: 22002 }).ports.map((p) => [p.port, p.destination])).toEqual([[22001, "127.0.0.1"], [22002, ""]]);
    expect(applyRemoteChange(c, { kind: "tcp/release", port: 22001 }).ports).toEqual([]);
    expect(applyRemoteChange(c, { kind: "tcp/release", port: 9 }).ports).toHaveLength(1);
    expect(applyRemoteChange(c, { kind: "tcp/reset", ports: [22001] }).ports[0]).toEqual({ port: 22001, destination: "", dstPort: 0, firewall: [] });
    expect(applyRemoteChange(c, { kind: "tcp/update", ports: [{ port: 22003, destination: "db", dstPort: 5432, firewall: [] }] }).ports.at(-1)).toEqual({ port: 22003, destination: "db", dstPort: 5432, firewall: [] });
    expect(applyRemoteChange(c, { kind: "portmap/update", portmaps: [{ listenPort: 6379, dstPort: 7000, destination: "cache", transport: "tcp", label: "x", http: false }] }).portmaps).toEqual([
      { listenPort: 6379, dstPort: 7000, destination: "cache", transport: "tcp", label: "x", http: false },
    ]);
    expect(applyRemoteChange(c, { kind: "portmap/remove", listenPorts: [6379] }).portmaps).toEqual([]);
  });

  test("refuses changes that make no sense, naming the field", () => {
    const c = base();
    expect(() => applyRemoteChange(c, { kind: "http/remove", domains: ["zzz.example.com"] })).toThrow("no HTTP rule for zzz.example.com");
    expect(() => applyRemoteChange(c, { kind: "tcp/reset", ports: [1234] })).toThrow("port 1234 is not allocated to this tunnel");
    expect(() => applyRemoteChange(c, { kind: "portmap/remove", listenPorts: [1] })).toThrow("no port mapping on local port 1");
    c.socks.listenPort = 1080;
    expect(() => applyRemoteChange(c, { kind: "portmap/update", portmaps: [{ listenPort: 1080, dstPort: 1, destination: "x", transport: "tcp", label: "", http: false }] })).toThrow(/already used by the SOCKS proxy/);
  });
});

describe("parseRemoteChange", () => {
  test("validates the wire shape", () => {
    expect(() => parseRemoteChange(null)).toThrow("change must be an object");
    expect(() => parseRemoteChange({ kind: "nope" })).toThrow(/unknown change kind "nope"/);
    expect(() => parseRemoteChange({ kind: "http/update", sites: [] })).toThrow("sites must not be empty");
    expect(() => parseRemoteChange({ kind: "http/update", sites: [{ domain: "a.b" }] })).toThrow("sites[0] needs a port, a tls port, a webRoot or a redirectURL");
    expect(() => parseRemoteChange({ kind: "http/update", sites: [{ domain: "bad domain", port: 1 }] })).toThrow(/sites\[0\]\.domain/);
    expect(() => parseRemoteChange({ kind: "http/update", sites: [{ domain: "a.b", port: 1, basicHttpAuth: "u:plain" }] })).toThrow(/not a plain password/);
    expect(() => parseRemoteChange({ kind: "tcp/add", port: 0 })).toThrow("port (0) must be an integer between 1 and 65535");
    expect(() => parseRemoteChange({ kind: "tcp/update", ports: [{ port: 1 }] })).toThrow("ports[0].destination is required");
    expect(() => parseRemoteChange({ kind: "tcp/reset", ports: [5, 5] })).toThrow("port 5 is listed twice");
    expect(() => parseRemoteChange({ kind: "portmap/remove", listenPorts: "1" })).toThrow("listenPorts must be an array");
    expect(parseRemoteChange({ kind: "http/remove", domains: [" A.Example.COM "] })).toEqual({ kind: "http/remove", domains: ["a.example.com"] });
  });
});
