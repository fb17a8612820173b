// First-run setup, login, TOTP 2FA, logout, CSRF and attempt limits, through app.request().
import { describe, expect, test } from "bun:test";
import * as OTPAuth from "otpauth";
import { findUserByEmail, setTwoFactor } from "../../../db/queries/users.ts";
import { TOTP_STATE, USER_ORIGIN } from "../../../db/schema.ts";
import { addAdmin, Browser, testWeb, tightLimits } from "./web-helpers.ts";

const code = (secret: string, at: number) => new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), algorithm: "SHA1", digits: 6, period: 30 }).generate({ timestamp: at });
const secretOnPage = (html: string) => /id="totp-secret"[^>]*>([A-Z2-7]+)</.exec(html)?.[1] ?? "";

describe("first-run setup", () => {
  test("login offers Configure; the secret is checked; the admin is created with origin Dashboard Setup", async () => {
    const w = await testWeb({ adminSecret: "open sesame" });
    const b = new Browser(w);
    await b.get("/login");
    expect(b.lastHtml).toContain('href="/setup"');
    await b.get("/setup");
    let r = await b.post("/setup", { secret: "wrong" });
    expect(r.status).toBe(401);
    expect(b.lastHtml).toContain("That is not the admin secret.");
    r = await b.post("/setup", { secret: "open sesame" });
    expect(r.status).toBe(200);
    expect(b.lastHtml).toContain("Create the first administrator");
    r = await b.post("/setup/admin", { secret: "open sesame", email: "root@example.com", fullName: "Root", password: "short", confirm: "other" });
    expect(r.status).toBe(422);
    expect(b.lastHtml).toContain("Use at least 8 characters.");
    expect(b.lastHtml).toContain("The passwords do not match.");
    r = await b.post("/setup/admin", { secret: "open sesame", email: "root@example.com", fullName: "Root", password: "long enough", confirm: "long enough" });
    expect(r.status).toBe(303);
    expect(r.headers.get("location")).toBe("/");
    const user = await findUserByEmail(w.db, "root@example.com");
    expect(user).toMatchObject({ origin: USER_ORIGIN.dashboardSetup, isAdmin: true, fullName: "Root", totpState: TOTP_STATE.disabled });
    expect((await b.get("/")).status).toBe(200);
    // Closed once an admin exists.
    const other = new Browser(w);
    await other.get("/login");
    expect(other.lastHtml).not.toContain('href="/setup"');
    expect((await other.get("/setup")).status).toBe(404);
    expect((await other.post("/setup/admin", { secret: "open sesame", email: "x@example.com", password: "long enough", confirm: "long enough" }, { csrf: "x" })).status).toBe(404);
  });

  test("setup is not offered without ADMIN_SECRET", async () => {
    const w = await testWeb();
    const b = new Browser(w);
    await b.get("/login");
    expect(b.lastHtml).not.toContain('href="/setup"');
    expect((await b.get("/setup")).status).toBe(404);
  });

  test("setup with 2FA goes to the TOTP enrolment", async () => {
    const w = await testWeb({ adminSecret: "s" });
    const b = new Browser(w);
    await b.get("/setup");
    await b.post("/setup", { secret: "s" });
    const r = await b.post("/setup/admin", { secret: "s", email: "root@example.com", password: "long enough", confirm: "long enough", enable2fa: "on" });
    expect(r.headers.get("location")).toBe("/login/2fa/setup");
    await b.get("/login/2fa/setup");
    const secret = secretOnPage(b.lastHtml);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(b.lastHtml).toContain("<svg");
    const ok = await b.post("/login/2fa/setup", { code: code(secret, w.clock.now) });
    expect(ok.headers.get("location")).toBe("/");
    expect((await findUserByEmail(w.db, "root@example.com"))!.totpState).toBe(TOTP_STATE.enabled);
  });

  test("setup secret attempts are limited", async () => {
    const w = await testWeb({ adminSecret: "s", limits: tightLimits(2) });
    const b = new Browser(w);
    await b.get("/setup");
    await b.post("/setup", { secret: "a" });
    await b.post("/setup", { secret: "b" });
    const r = await b.post("/setup", { secret: "s" });
    expect(r.status).toBe(429);
  });
});

describe("login", () => {
  test("pages need a login; wrong password refused; cookie flags; logout ends the session", async () => {
    const w = await testWeb();
    await addAdmin(w.db);
    const b = new Browser(w);
    for (const p of ["/", "/tunnels", "/tokens", "/api-keys", "/settings", "/account", "/no-such-page"]) {
      const r = await b.get(p);
      expect([p, r.status, r.headers.get("location")]).toEqual([p, 303, "/login"]);
    }
    expect((await b.post("/tokens", { description: "x" }, { csrf: "x" })).status).toBe(401);
    // Static assets are public.
    expect((await b.get("/static/app.css")).status).toBe(200);
    expect((await b.get("/static/app.js")).headers.get("content-type")).toContain("javascript");

    await b.get("/login");
    const bad = await b.post("/login", { email: "admin@example.com", password: "nope" });
    expect(bad.status).toBe(401);
    expect(b.lastHtml).toContain("Wrong email or password.");
    const ok = await b.post("/login", { email: "Admin@Example.com", password: "correct horse" });
    expect(ok.status).toBe(303);
    const cookie = ok.headers.getSetCookie().find((c) => c.startsWith("spokes_session="))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Secure/);
    const saved = b.cookies.get("spokes_session")!;
    await b.get("/");
    expect(b.lastHtml).toContain("Overview");
    const out = await b.post("/logout", {});
    expect(out.headers.get("location")).toBe("/login?m=logged-out");
    b.cookies.set("spokes_session", saved);
    expect((await b.get("/")).headers.get("location")).toBe("/login?m=expired");
  });

  test("no Secure flag over plain http", async () => {
    const w = await testWeb();
    await addAdmin(w.db);
    const b = new Browser(w, "http://spokes.test");
    await b.get("/login");
    const r = await b.post("/login", { email: "admin@example.com", password: "correct horse" });
    expect(r.headers.getSetCookie().find((c) => c.startsWith("spokes_session="))).not.toMatch(/Secure/);
  });

  test("CSRF: login needs the form token; signed-in forms need the session token and our origin", async () => {
    const w = await testWeb();
    await addAdmin(w.db);
    const b = new Browser(w);
    await b.get("/login");
    expect((await b.post("/login", { email: "admin@example.com", password: "correct horse" }, { csrf: "forged" })).status).toBe(403);
    await b.login();
    await b.get("/tokens");
    expect((await b.post("/tokens", { description: "x", active: "on" }, { csrf: "forged" })).status).toBe(403);
    expect((await b.post("/tokens", { description: "x", active: "on" }, { headers: { origin: "https://evil.example" } })).status).toBe(403);
    expect((await b.post("/tokens", { description: "x", active: "on" })).status).toBe(200);
  });

  test("sessions expire", async () => {
    const w = await testWeb();
    await addAdmin(w.db);
    const b = new Browser(w);
    await b.login();
    w.clock.now += 13 * 3600_000;
    expect((await b.get("/")).headers.get("location")).toBe("/login?m=expired");
  });

  test("login attempts are limited per account and per address, before any hashing", async () => {
    const w = await testWeb({ limits: tightLimits(3) });
    await addAdmin(w.db);
    const b = new Browser(w);
    await b.get("/login");
    for (let i = 0; i < 3; i++) await b.post("/login", { email: "admin@example.com", password: `wrong${i}` });
    const r = await b.post("/login", { email: "admin@example.com", password: "correct horse" });
    expect(r.status).toBe(429);
    expect(b.lastHtml).toContain("Too many attempts");
    // Another address is still limited for this account.
    const c = new Browser(w, "https://spokes.test", "198.51.100.1");
    await c.get("/login");
    expect((await c.post("/login", { email: "admin@example.com", password: "correct horse" })).status).toBe(429);
  });
});

describe("two-factor", () => {
  test("CLI-enabled 2FA: setup at next login, refresh makes a new secret, wrong code refused, then passcode at every login, no replay", async () => {
    const w = await testWeb();
    const admin = await addAdmin(w.db, "admin@example.com", "correct horse", true);
    const b = new Browser(w);
    await b.get("/login");
    const r = await b.post("/login", { email: "admin@example.com", password: "correct horse" });
    expect(r.headers.get("location")).toBe("/login/2fa/setup");
    // The pending session is not a login, but it survives other requests (favicon, pages).
    expect((await b.get("/favicon.ico")).status).toBe(204);
    expect((await b.get("/")).headers.get("location")).toBe("/login/2fa");
    expect((await b.get("/login/2fa")).headers.get("location")).toBe("/login/2fa/setup");
    await b.get("/login/2fa/setup");
    const first = secretOnPage(b.lastHtml);
    await b.post("/login/2fa/setup/refresh", {});
    await b.get("/login/2fa/setup");
    const second = secretOnPage(b.lastHtml);
    expect(second).not.toBe(first);
    // A code of the old secret no longer validates; a wrong code is refused.
    expect((await b.post("/login/2fa/setup", { code: code(first, w.clock.now) })).status).toBe(401);
    expect(b.lastHtml).toContain("That passcode is not valid");
    expect((await b.post("/login/2fa/setup", { code: "000000" })).status).toBe(401);
    const ok = await b.post("/login/2fa/setup", { code: code(second, w.clock.now) });
    expect(ok.headers.get("location")).toBe("/");
    expect((await b.get("/")).status).toBe(200);

    // Next login asks for the passcode; the code just used is refused (replay).
    const c = new Browser(w);
    await c.get("/login");
    expect((await c.post("/login", { email: "admin@example.com", password: "correct horse" })).headers.get("location")).toBe("/login/2fa");
    await c.get("/login/2fa");
    expect((await c.post("/login/2fa", { code: code(second, w.clock.now) })).status).toBe(401);
    w.clock.now += 30_000;
    const pass = await c.post("/login/2fa", { code: code(second, w.clock.now) });
    expect(pass.headers.get("location")).toBe("/");
    expect((await c.get("/account")).status).toBe(200);
    expect(c.lastHtml).toContain("Two-factor authentication: enabled");

    // A reset by the CLI sends the user back to setup.
    await setTwoFactor(w.db, admin.id, "reset");
    const d = new Browser(w);
    await d.get("/login");
    expect((await d.post("/login", { email: "admin@example.com", password: "correct horse" })).headers.get("location")).toBe("/login/2fa/setup");
  });

  test("passcode attempts are limited", async () => {
    const w = await testWeb({ limits: tightLimits(2) });
    await addAdmin(w.db, "admin@example.com", "correct horse", true);
    const b = new Browser(w);
    await b.get("/login");
    await b.post("/login", { email: "admin@example.com", password: "correct horse" });
    await b.get("/login/2fa/setup");
    await b.post("/login/2fa/setup", { code: "111111" });
    await b.post("/login/2fa/setup", { code: "222222" });
    const secret = secretOnPage(b.lastHtml);
    expect((await b.post("/login/2fa/setup", { code: code(secret, w.clock.now) })).status).toBe(429);
  });
});
