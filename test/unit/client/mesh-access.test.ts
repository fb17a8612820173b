// Mesh access settings in the client configuration: the entry grammar and its errors,
// the file validator, remote changes that keep what they leave out, the CLI flag, and the
// lenient reader the server's listings use.
import { describe, expect, test } from "bun:test";
import { meshAllowFromArgv } from "../../../commands/_client-args.ts";
import { meshAccessOf, normalizeMeshAllowEntry, parseMeshAllow } from "../../../lib/client-config/mesh-access.ts";
import { applyRemoteChange, parseRemoteChange } from "../../../lib/client-config/remote-change.ts";
import { upsertHttpRule } from "../../../lib/client-config/rules.ts";
import { defaultClientConfig, emptyHttpRule } from "../../../lib/client-config/types.ts";
import { validateClientConfig } from "../../../lib/client-config/validate.ts";

const TID = "ab".repeat(16);

describe("entries", () => {
  test("tunnel ids and user names or ids, canonical spelling", () => {
    expect(normalizeMeshAllowEntry(`Tunnel:${TID.toUpperCase()}`)).toBe(`tunnel:${TID}`);
    expect(normalizeMeshAllowEntry(" user:Bob@Example.com ")).toBe("user:Bob@Example.com");
    expect(normalizeMeshAllowEntry(`user:${TID.toUpperCase()}`)).toBe(`user:${TID}`);
    for (const bad of ["bob", "tunnel:xyz", `tunnel:${TID}0`, "user:", "user:a b", "user:a,b", "*", "host:x"]) expect(normalizeMeshAllowEntry(bad)).toBeUndefined();
  });

  test("a list: the bad entry is named; duplicates dropped", () => {
    expect(parseMeshAllow([`tunnel:${TID}`, `TUNNEL:${TID}`, "user:bob"], () => "x")).toEqual([`tunnel:${TID}`, "user:bob"]);
    expect(() => parseMeshAllow(["user:bob", "bob"], (i, v) => `entry ${i} (${JSON.stringify(v)})`)).toThrow('entry 1 ("bob") must be tunnel:<tunnel id> or user:<user name or id>');
  });
});

describe("configuration file", () => {
  test("private and meshAllow on ports, meshAllow on HTTP rules; absent stays absent", () => {
    const c = validateClientConfig({
      ports: [{ port: 22001, destination: "127.0.0.1", dstPort: 6379, private: true, meshAllow: ["user:bob"] }, { port: 22002 }],
      https: [{ domain: "a.example.com", port: 80, meshAllow: [`tunnel:${TID}`] }],
    });
    expect(c.ports[0]).toEqual({ port: 22001, destination: "127.0.0.1", dstPort: 6379, firewall: [], private: true, meshAllow: ["user:bob"] });
    expect(c.ports[1]).toEqual({ port: 22002, destination: "", dstPort: 0, firewall: [] });
    expect(c.https[0]!.meshAllow).toEqual([`tunnel:${TID}`]);
  });

  test("errors name the field and the entry", () => {
    expect(() => validateClientConfig({ ports: [{ port: 1, meshAllow: ["user:bob", "bob"] }] })).toThrow('config ports[0].meshAllow[1] ("bob") must be tunnel:<tunnel id> or user:<user name or id>');
    expect(() => validateClientConfig({ ports: [{ port: 1, meshAllow: "user:bob" }] })).toThrow("config ports[0].meshAllow must be an array");
    expect(() => validateClientConfig({ ports: [{ port: 1, private: "yes" }] })).toThrow('config ports[0].private must be true or false (got "yes")');
    expect(() => validateClientConfig({ https: [{ domain: "a.example.com", meshAllow: [3] }] })).toThrow("config https[0].meshAllow[0] must be a string (got 3)");
  });
});

describe("remote changes", () => {
  const base = () => {
    const c = defaultClientConfig();
    c.https.push({ ...emptyHttpRule("a.example.com"), port: 80, meshAllow: ["user:bob"] });
    c.ports.push({ port: 22001, destination: "127.0.0.1", dstPort: 22, firewall: [], private: true, meshAllow: ["user:bob"] });
    return c;
  };

  test("tcp/update sets what it gives and keeps what it leaves out", () => {
    const kept = applyRemoteChange(base(), { kind: "tcp/update", ports: [{ port: 22001, destination: "db", dstPort: 5432, firewall: [] }] });
    expect(kept.ports[0]).toEqual({ port: 22001, destination: "db", dstPort: 5432, firewall: [], private: true, meshAllow: ["user:bob"] });
    const set = applyRemoteChange(base(), { kind: "tcp/update", ports: [{ port: 22001, destination: "db", dstPort: 5432, firewall: [], private: false, meshAllow: [`tunnel:${TID}`] }] });
    expect(set.ports[0]).toEqual({ port: 22001, destination: "db", dstPort: 5432, firewall: [], meshAllow: [`tunnel:${TID}`] });
    const cleared = applyRemoteChange(base(), { kind: "tcp/update", ports: [{ port: 22001, destination: "db", dstPort: 5432, firewall: [], meshAllow: [] }] });
    expect(cleared.ports[0]!.meshAllow).toBeUndefined();
  });

  test("http/update without meshAllow keeps the site's list; with one, replaces it", () => {
    expect(applyRemoteChange(base(), { kind: "http/update", sites: [{ ...emptyHttpRule("a.example.com"), port: 81 }] }).https[0]!.meshAllow).toEqual(["user:bob"]);
    expect(applyRemoteChange(base(), { kind: "http/update", sites: [{ ...emptyHttpRule("a.example.com"), port: 81, meshAllow: [] }] }).https[0]!.meshAllow).toBeUndefined();
    const c = base();
    upsertHttpRule(c, { ...emptyHttpRule("a.example.com"), port: 82, meshAllow: ["user:carol"] });
    expect(c.https[0]!.meshAllow).toEqual(["user:carol"]);
  });

  test("a bad entry is refused before it is sent, named as the API caller wrote it", () => {
    expect(() => parseRemoteChange({ kind: "tcp/update", ports: [{ port: 22001, destination: "x", dstPort: 1, meshAllow: ["tunnel:nope"] }] })).toThrow(
      'ports[0].meshAllow[0] ("tunnel:nope") must be tunnel:<tunnel id> or user:<user name or id>',
    );
    expect(() => parseRemoteChange({ kind: "http/update", sites: [{ domain: "a.example.com", port: 80, meshAllow: ["everyone"] }] })).toThrow('sites[0].meshAllow[0] ("everyone")');
  });
});

describe("--mesh-allow", () => {
  test("repeatable and comma separated; absent is undefined; any clears", () => {
    expect(meshAllowFromArgv(["--port", "1"])).toBeUndefined();
    expect(meshAllowFromArgv(["--mesh-allow", `tunnel:${TID},user:bob`, "--mesh-allow=user:carol"])).toEqual([`tunnel:${TID}`, "user:bob", "user:carol"]);
    expect(meshAllowFromArgv(["--mesh-allow", "any"])).toEqual([]);
  });

  test("errors name the bad value", () => {
    expect(() => meshAllowFromArgv(["--mesh-allow", "bob"])).toThrow('--mesh-allow "bob" must be tunnel:<tunnel id> or user:<user name or id>');
    expect(() => meshAllowFromArgv(["--mesh-allow"])).toThrow("--mesh-allow needs");
    expect(() => meshAllowFromArgv(["--mesh-allow", "any", "--mesh-allow", "user:bob"])).toThrow("cannot be combined");
  });
});

test("meshAccessOf reads whatever a client announced", () => {
  const t = meshAccessOf({ ports: [{ port: 1, private: true, meshAllow: ["user:bob", 7] }, "junk"], https: [{ domain: "A.example.com", meshAllow: ["user:x"] }] });
  expect(t.port(1)).toEqual({ private: true, meshAllow: ["user:bob"] });
  expect(t.port(2)).toEqual({ private: false, meshAllow: [] });
  expect(t.http("a.example.com").meshAllow).toEqual(["user:x"]);
  expect(meshAccessOf(null).port(1)).toEqual({ private: false, meshAllow: [] });
});
