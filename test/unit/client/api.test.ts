import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  PinMismatchError,
  ServerRefusedError,
  ServerUnreachableError,
  UntrustedCertificateError,
  createClientApi,
  fetchPeerCertificate,
  normalizeFingerprint,
  parseServerHost,
  parseServerHosts,
  pinTrust,
  type ServerTrust,
} from "../../../lib/client-api/index.ts";
import { freePort, tempDir } from "../../helpers.ts";
import { GOOD_REGISTRATION, TUNNEL_ID, makeSelfSignedCert, startFakeServer, type FakeServer, type TestCert } from "./fake-server.ts";

describe("normalizeFingerprint", () => {
  const hex = "ae71074a19583f83b8d3fbe2fa9b273f861e177f306e127c8c988b87061ab3b5";
  test.each([
    [`sha256:${hex}`],
    [hex],
    [hex.toUpperCase()],
    ["SHA256:" + hex.match(/../g)!.join(":").toUpperCase()],
    ["sha256=" + hex.match(/../g)!.join(":")],
  ])("accepts %s", (input) => {
    expect(normalizeFingerprint(input)).toBe(hex);
  });
  test.each([["sha256:abc"], ["sha1:" + hex], [hex + "00"], ["zz" + hex.slice(2)], [""]])("rejects %s", (input) => {
    expect(normalizeFingerprint(input)).toBeUndefined();
  });
});

describe("parseServerHost", () => {
  test.each([
    ["spokes.example.com", "spokes.example.com", 443, "spokes.example.com:443", false],
    ["Spokes.Example.com:8443", "spokes.example.com", 8443, "spokes.example.com:8443", false],
    ["127.0.0.1:9000", "127.0.0.1", 9000, "127.0.0.1:9000", true],
    ["[::1]:9000", "::1", 9000, "[::1]:9000", true],
    ["::1", "::1", 443, "[::1]:443", true],
    ["https://spokes.example.com/", "spokes.example.com", 443, "spokes.example.com:443", false],
  ])("%s", (input, host, port, hostPort, isAddress) => {
    expect(parseServerHost(input)).toEqual({ host, port, hostPort, isAddress });
  });
  test.each([["spokes.example.com:0"], ["spokes.example.com:70000"], ["spokes.example.com:x"], ["bad host"], ["http://spokes.example.com"], [":443"]])("rejects %s", (input) => {
    expect(() => parseServerHost(input)).toThrow();
  });
});

describe("client API over HTTPS", () => {
  let cert: TestCert;
  let other: TestCert;
  let srv: FakeServer;
  beforeAll(() => {
    const dir = tempDir();
    cert = makeSelfSignedCert(dir);
    other = makeSelfSignedCert(dir, "spokes.test", "other");
    srv = startFakeServer(cert);
  });
  afterAll(() => srv.stop());

  const api = (trust: ServerTrust, key?: string) => createClientApi({ server: srv.hostPort, trust, key, timeoutMs: 5000 });

  test("the peer certificate's fingerprint is the SHA-256 of its DER", async () => {
    const peer = await fetchPeerCertificate(parseServerHost(srv.hostPort));
    expect(peer.fingerprint).toBe(cert.fingerprint);
    expect(peer.authorizationError).toBeTruthy();
    expect(peer.chainPem.length).toBe(1);
  });

  test("public trust rejects a self-signed server with a certificate error", async () => {
    const err = await api({ kind: "public" }).register({ token: GOOD_REGISTRATION }).catch((e) => e);
    expect(err).toBeInstanceOf(UntrustedCertificateError);
    expect(err.message).toBe(`the certificate of server ${srv.hostPort} is not trusted: self-signed certificate`);
  });

  test("a pinned fingerprint is accepted although the certificate names spokes.test, not 127.0.0.1", async () => {
    const r = await api(pinTrust(`sha256:${cert.fingerprint}`)).register({ token: GOOD_REGISTRATION, id: "u1", hostname: "app.spokes.test" });
    expect(r).toEqual({ key: expect.stringMatching(/^key-/), tunnelID: TUNNEL_ID, hostname: "app.spokes.test" });
    const req = srv.requests.at(-1)!;
    expect(req).toMatchObject({ method: "POST", path: "register", body: { token: GOOD_REGISTRATION, id: "u1", hostname: "app.spokes.test" } });
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.headers.accept).toBe("application/json");
    expect(req.headers.authorization).toBeUndefined();
  });

  test("a wrong pin fails before any request is sent", async () => {
    const before = srv.requests.length;
    const err = await api(pinTrust(other.fingerprint), "key-existing").auth().catch((e) => e);
    expect(err).toBeInstanceOf(PinMismatchError);
    expect(err.message).toContain(`expected sha256:${other.fingerprint}, got sha256:${cert.fingerprint}`);
    expect(srv.requests.length).toBe(before);
  });

  test("--ca trusts the chain; by IP the name is not checked", async () => {
    const r = await api({ kind: "ca", caPem: cert.cert, caPath: cert.certPath }, "key-existing").auth();
    expect(r.tunnelID).toBe(TUNNEL_ID);
    expect(srv.requests.at(-1)!.headers.authorization).toBe("Bearer key-existing");
  });

  test("--ca with a different CA is rejected", async () => {
    const err = await api({ kind: "ca", caPem: other.cert, caPath: other.certPath }, "key-existing").auth().catch((e) => e);
    expect(err).toBeInstanceOf(UntrustedCertificateError);
  });

  test("--ca by name checks the name (and SNI) on the connection", async () => {
    // localhost resolves without /etc/hosts edits; the certificate only names spokes.test.
    const err = await createClientApi({ server: `localhost:${srv.port}`, trust: { kind: "ca", caPem: cert.cert, caPath: cert.certPath }, key: "key-existing" })
      .auth()
      .catch((e) => e);
    expect(err).toBeInstanceOf(UntrustedCertificateError);
    expect(err.message).toContain("certificate does not name this host");
  });

  test("insecure skips verification", async () => {
    const port = await api({ kind: "insecure" }, "key-existing").allocatePort();
    expect(port).toBeGreaterThanOrEqual(22001);
    expect(srv.requests.at(-1)!.body).toEqual({});
  });

  test("refusals carry the server's error text", async () => {
    const err = await api({ kind: "insecure" }).register({ token: "nope" }).catch((e) => e);
    expect(err).toBeInstanceOf(ServerRefusedError);
    expect(err.message).toBe("server refused: invalid registration token");
    expect(err.httpStatus).toBe(401);
  });

  test("status, release and deauth use the documented paths", async () => {
    const a = api({ kind: "insecure" }, "key-existing");
    expect(await a.status()).toEqual({ tunnelID: TUNNEL_ID, online: false, hostname: "tunnel.spokes.test", https: [], ports: [] });
    expect(srv.requests.at(-1)).toMatchObject({ method: "GET", path: "status" });
    await a.releasePort(22001);
    expect(srv.requests.at(-1)).toMatchObject({ method: "POST", path: "ports/release", body: { port: 22001 } });
    await a.deauth();
    expect(srv.requests.at(-1)).toMatchObject({ method: "POST", path: "deauth" });
    await expect(a.auth()).rejects.toThrow("server refused: invalid or inactive key");
    srv.keys.add("key-existing");
  });

  test("a closed port is reported as unreachable", async () => {
    const port = await freePort();
    const err = await createClientApi({ server: `127.0.0.1:${port}`, trust: { kind: "insecure" }, key: "k" }).auth().catch((e) => e);
    expect(err).toBeInstanceOf(ServerUnreachableError);
    expect(err.message).toBe(`cannot reach server 127.0.0.1:${port}: connection refused`);
    const pinned = await createClientApi({ server: `127.0.0.1:${port}`, trust: pinTrust(cert.fingerprint), key: "k" }).auth().catch((e) => e);
    expect(pinned.message).toBe(`cannot reach server 127.0.0.1:${port}: connection refused`);
  });

  test("failover: an unreachable first address moves the call to the next one (pinned), and later calls stay there", async () => {
    const port = await freePort();
    const a = createClientApi({ server: `127.0.0.1:${port}`, failover: [parseServerHost(srv.hostPort)], trust: pinTrust(cert.fingerprint), key: "key-existing" });
    expect((await a.auth()).tunnelID).toBe(TUNNEL_ID);
    expect(a.server.hostPort).toBe(srv.hostPort);
    const before = srv.requests.length;
    await a.status();
    expect(srv.requests.length).toBe(before + 1);
  });

  test("failover: every address unreachable gives the last one's error; a refusal is not retried elsewhere", async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const err = await createClientApi({ server: `127.0.0.1:${p1}`, failover: [parseServerHost(`127.0.0.1:${p2}`)], trust: { kind: "insecure" }, key: "k" }).auth().catch((e) => e);
    expect(err).toBeInstanceOf(ServerUnreachableError);
    expect(err.message).toBe(`cannot reach server 127.0.0.1:${p2}: connection refused`);
    const before = srv.requests.length;
    const refused = await createClientApi({ server: srv.hostPort, failover: [parseServerHost(`127.0.0.1:${p1}`)], trust: { kind: "insecure" } }).register({ token: "nope" }).catch((e) => e);
    expect(refused).toBeInstanceOf(ServerRefusedError);
    expect(srv.requests.length).toBe(before + 1);
  });
});

describe("parseServerHosts", () => {
  test("a comma-separated list in order, repeats dropped, the default port filled in", () => {
    expect(parseServerHosts("a.example.com, b.example.com:8443,A.example.com:443").map((s) => s.hostPort)).toEqual(["a.example.com:443", "b.example.com:8443"]);
    expect(parseServerHosts("127.0.0.1:9000").map((s) => s.hostPort)).toEqual(["127.0.0.1:9000"]);
  });
  test("a bad entry is named", () => {
    expect(() => parseServerHosts("a.example.com,b:0")).toThrow('entry "b:0" has an invalid port');
    expect(() => parseServerHosts("a.example.com,,b.example.com")).toThrow("has an empty entry in its list");
    expect(() => parseServerHosts("bad host")).toThrow("is not a valid host name");
  });
});
