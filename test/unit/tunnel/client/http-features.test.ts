// The client's feature server answers the CA's HTTP-01 request for a Let's Encrypt rule
// before any other feature (password page, redirect URL), only for tokens of a pending
// order, and only for Let's Encrypt rules; and which rules pass TLS through untouched.
import { afterAll, describe, expect, test } from "bun:test";
import { emptyHttpRule, type HttpRule } from "../../../../lib/client-config/types.ts";
import { createFeatureServer, rulePassesTlsThrough, ruleTerminatesTls } from "../../../../lib/tunnel/client/http-features.ts";

const le: HttpRule = { ...emptyHttpRule("le.example.test"), useLetsEnc: true, port: 9, password: "$argon2id$v=19$m=65536,t=2,p=1$x$y", redirectURL: "https://elsewhere.example/" };
const custom: HttpRule = { ...emptyHttpRule("own.example.test"), port: 9, redirectURL: "https://elsewhere.example/" };
const pending = new Map([["tok123", "tok123.thumbprint"]]);
const server = createFeatureServer([le, custom], { verifyPassword: async () => false, acmeChallenge: (t) => pending.get(t) });
afterAll(() => server.stop());

const get = (host: string, path: string) => fetch(`http://127.0.0.1:${server.port}${path}`, { headers: { host }, redirect: "manual" });

describe("HTTP-01 on the client", () => {
  test("a pending token is answered with its key authorization, ahead of the password and the redirect", async () => {
    const r = await get("le.example.test", "/.well-known/acme-challenge/tok123");
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("tok123.thumbprint");
  });
  test("an unknown token is 404, never passed on", async () => {
    expect((await get("le.example.test", "/.well-known/acme-challenge/nope")).status).toBe(404);
  });
  test("other paths still get the rule's features (here the password page)", async () => {
    expect((await get("le.example.test", "/")).status).toBe(401);
  });
  test("a rule without Let's Encrypt does not answer challenges", async () => {
    const r = await get("own.example.test", "/.well-known/acme-challenge/tok123");
    expect(r.status).toBe(302);
  });
  test("no certificate yet: no TLS listener for the rule", () => {
    expect(server.tlsPortFor(le)).toBeUndefined();
  });
});

describe("who terminates TLS", () => {
  const base = { ...emptyHttpRule("a.example.test"), tls: 8443 };
  test("a tls rule passes through; with a certificate of its own, a password or basic auth it does not", () => {
    expect(rulePassesTlsThrough(base)).toBe(true);
    expect(rulePassesTlsThrough({ ...base, useLetsEnc: true })).toBe(false);
    expect(ruleTerminatesTls({ ...base, useLetsEnc: true })).toBe(true);
    expect(rulePassesTlsThrough({ ...base, password: "h" })).toBe(false);
    expect(rulePassesTlsThrough({ ...base, basicHttpAuth: "u:h" })).toBe(false);
    expect(rulePassesTlsThrough({ ...base, tls: 0, httpsUpstream: 8443 })).toBe(false);
  });
});
