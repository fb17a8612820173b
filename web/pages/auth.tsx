/** @jsxImportSource hono/jsx */
// Login, logout, first-run setup (ADMIN_SECRET) and the TOTP second factor. Everything
// here is reachable without a full session; each POST checks a CSRF token and the
// attempt counters come before any password hashing.
import { Hono, type Context } from "hono";
import { countAdmins, completeTwoFactorSetup, createUser, findUserByEmail, findUserById, setTwoFactorCandidate, verifyPassword, type UserRow } from "../../db/queries/users.ts";
import { createSession, deleteSession, findSession, type SessionRow } from "../../db/queries/sessions.ts";
import { TOTP_STATE, USER_ORIGIN } from "../../db/schema.ts";
import { errorMessage } from "../../lib/errors.ts";
import {
  DASHBOARD_COOKIE,
  DASHBOARD_SESSION_MS,
  PENDING_2FA_SESSION_MS,
  PRELOGIN_CSRF_COOKIE,
  clearCookie,
  preloginCsrf,
  remoteAddress,
  safeEqual,
  sameOrigin,
  sessionToken,
  setSessionCookie,
  type WebEnv,
  type WebShared,
} from "../context.ts";
import { newTotpSecret, totpQrSvg, totpStep, totpUri } from "../security/totp.ts";
import { LoginView, MessageView, SetupAdminView, SetupSecretView, TwoFactorSetupView, TwoFactorView } from "../views/auth.tsx";
import type { FieldErrors } from "../views/components.tsx";
import { getCookie } from "hono/cookie";
import { formOf } from "./form.ts";

const NOTICES: Record<string, string> = {
  "logged-out": "You are logged out.",
  "password-changed": "Password changed. Log in again with the new password.",
  expired: "Your session expired. Log in again.",
};

export const MIN_PASSWORD_LENGTH = 8;

type Form = Record<string, string>;

export function createAuthPages(shared: WebShared) {
  const { deps, limits } = shared;
  const db = deps.db;
  const app = new Hono<WebEnv>();
  /** Last accepted TOTP step per user: a passcode works once. */
  const usedSteps = new Map<string, number>();

  const setupOpen = async () => Boolean(shared.adminSecret()) && (await countAdmins(db)) === 0;

  /** The pre-login forms: the double-submit cookie must match the field, and the origin must be ours. */
  const preloginOk = (c: Context, form: Form) => sameOrigin(c) && safeEqual(form._csrf ?? "", getCookie(c, PRELOGIN_CSRF_COOKIE) ?? "");

  const pending = async (c: Context): Promise<{ session: SessionRow; user: UserRow } | undefined> => {
    const session = await findSession(db, sessionToken(c, DASHBOARD_COOKIE), shared.now());
    if (!session || session.kind !== "dashboard" || !session.pending2fa || !session.userId) return undefined;
    const user = await findUserById(db, session.userId);
    return user?.isAdmin ? { session, user } : undefined;
  };

  /** Starts the session a user gets after the password: full, or waiting for the second factor. */
  const startSession = async (c: Context, user: UserRow) => {
    const needs2fa = user.totpState !== TOTP_STATE.disabled;
    const { token } = await createSession(db, {
      kind: "dashboard",
      userId: user.id,
      pending2fa: needs2fa,
      ttlMs: needs2fa ? PENDING_2FA_SESSION_MS : DASHBOARD_SESSION_MS,
      now: shared.now(),
    });
    setSessionCookie(c, DASHBOARD_COOKIE, token, needs2fa ? PENDING_2FA_SESSION_MS : DASHBOARD_SESSION_MS);
    if (!needs2fa) return c.redirect("/", 303);
    return c.redirect(user.totpState === TOTP_STATE.enabled ? "/login/2fa" : "/login/2fa/setup", 303);
  };

  /** The second factor was given: the pending session is replaced by a fresh full one. */
  const promote = async (c: Context, session: SessionRow, userId: string) => {
    await deleteSession(db, session.id);
    const { token } = await createSession(db, { kind: "dashboard", userId, ttlMs: DASHBOARD_SESSION_MS, now: shared.now() });
    setSessionCookie(c, DASHBOARD_COOKIE, token, DASHBOARD_SESSION_MS);
    return c.redirect("/", 303);
  };

  const tooMany = (c: Context, retryAfter: number) => {
    c.header("Retry-After", String(retryAfter));
    c.status(429);
    return `Too many attempts. Try again in ${Math.ceil(retryAfter / 60)} minute(s).`;
  };

  // ---- login ---------------------------------------------------------------------
  app.get("/login", async (c) => {
    const session = await findSession(db, sessionToken(c, DASHBOARD_COOKIE), shared.now());
    if (session?.kind === "dashboard" && !session.pending2fa) return c.redirect("/", 303);
    return c.render(<LoginView csrf={preloginCsrf(c)} notice={NOTICES[c.req.query("m") ?? ""]} offerSetup={await setupOpen()} />, { title: "Sign in", narrow: true });
  });

  app.post("/login", async (c) => {
    const form = await formOf(c);
    const email = (form.email ?? "").trim();
    const view = async (error: string) =>
      c.render(<LoginView csrf={preloginCsrf(c)} email={email} error={error} offerSetup={await setupOpen()} />, { title: "Sign in", narrow: true });
    if (!preloginOk(c, form)) {
      c.status(403);
      return view("The form expired. Please try again.");
    }
    const addr = `login:${remoteAddress(c)}`;
    const acct = `login:${email.toLowerCase()}`;
    const byAddr = limits.loginPerAddress.hit(addr);
    if (!byAddr.ok) return view(tooMany(c, byAddr.retryAfter));
    const byAcct = limits.loginPerAccount.check(acct);
    if (!byAcct.ok) return view(tooMany(c, byAcct.retryAfter));
    const user = email ? await findUserByEmail(db, email) : undefined;
    const ok = user?.isAdmin ? await verifyPassword(user, form.password ?? "") : (await Bun.password.verify("x", await dummyHash()).catch(() => false), false);
    if (!ok || !user) {
      limits.loginPerAccount.hit(acct);
      c.status(401);
      return view("Wrong email or password.");
    }
    limits.loginPerAccount.reset(acct);
    return startSession(c, user);
  });

  app.post("/logout", async (c) => {
    const form = await formOf(c);
    const session = await findSession(db, sessionToken(c, DASHBOARD_COOKIE), shared.now());
    if (session && sameOrigin(c) && safeEqual(form._csrf ?? "", session.csrfToken)) await deleteSession(db, session.id);
    else if (session) return c.redirect("/", 303);
    clearCookie(c, DASHBOARD_COOKIE);
    return c.redirect("/login?m=logged-out", 303);
  });

  // ---- second factor -------------------------------------------------------------
  const passcodeAccepted = (c: Context, user: UserRow, secret: string, code: string): string | undefined => {
    const addr = limits.twoFactorPerAddress.hit(`2fa:${remoteAddress(c)}`);
    if (!addr.ok) return tooMany(c, addr.retryAfter);
    const acct = limits.twoFactorPerAccount.hit(`2fa:${user.id}`);
    if (!acct.ok) return tooMany(c, acct.retryAfter);
    const step = totpStep(secret, code, shared.now());
    if (step === null || (usedSteps.get(user.id) ?? -1) >= step) {
      c.status(401);
      return "That passcode is not valid. Check the time on your device and try the current code.";
    }
    if (usedSteps.size > 10_000) usedSteps.clear();
    usedSteps.set(user.id, step);
    limits.twoFactorPerAccount.reset(`2fa:${user.id}`);
    return undefined;
  };

  app.get("/login/2fa", async (c) => {
    const p = await pending(c);
    if (!p) return c.redirect("/login", 303);
    if (p.user.totpState !== TOTP_STATE.enabled) return c.redirect("/login/2fa/setup", 303);
    return c.render(<TwoFactorView csrf={p.session.csrfToken} />, { title: "Two-factor authentication", narrow: true });
  });

  app.post("/login/2fa", async (c) => {
    const p = await pending(c);
    if (!p) return c.redirect("/login", 303);
    const form = await formOf(c);
    if (!sameOrigin(c) || !safeEqual(form._csrf ?? "", p.session.csrfToken)) return c.redirect("/login/2fa", 303);
    if (p.user.totpState !== TOTP_STATE.enabled) return c.redirect("/login/2fa/setup", 303);
    const error = passcodeAccepted(c, p.user, p.user.totpSecret, form.code ?? "");
    if (error) return c.render(<TwoFactorView csrf={p.session.csrfToken} error={error} />, { title: "Two-factor authentication", narrow: true });
    return promote(c, p.session, p.user.id);
  });

  const setupView = async (c: Context, p: { session: SessionRow; user: UserRow }, error?: string) => {
    let secret = p.user.totpSecret;
    if (!secret) {
      secret = newTotpSecret();
      await setTwoFactorCandidate(db, p.user.id, secret);
    }
    const uri = totpUri(secret, p.user.email);
    return c.render(<TwoFactorSetupView csrf={p.session.csrfToken} secret={secret} uri={uri} qrSvg={totpQrSvg(uri)} error={error} />, {
      title: "Set up two-factor authentication",
      narrow: true,
    });
  };

  app.get("/login/2fa/setup", async (c) => {
    const p = await pending(c);
    if (!p) return c.redirect("/login", 303);
    if (p.user.totpState !== TOTP_STATE.pendingSetup) return c.redirect("/login/2fa", 303);
    return setupView(c, p);
  });

  app.post("/login/2fa/setup", async (c) => {
    const p = await pending(c);
    if (!p) return c.redirect("/login", 303);
    const form = await formOf(c);
    if (!sameOrigin(c) || !safeEqual(form._csrf ?? "", p.session.csrfToken)) return c.redirect("/login/2fa/setup", 303);
    if (p.user.totpState !== TOTP_STATE.pendingSetup || !p.user.totpSecret) return c.redirect("/login/2fa/setup", 303);
    const error = passcodeAccepted(c, p.user, p.user.totpSecret, form.code ?? "");
    if (error) return setupView(c, p, error);
    await completeTwoFactorSetup(db, p.user.id, p.user.totpSecret);
    return promote(c, p.session, p.user.id);
  });

  app.post("/login/2fa/setup/refresh", async (c) => {
    const p = await pending(c);
    if (!p) return c.redirect("/login", 303);
    const form = await formOf(c);
    if (sameOrigin(c) && safeEqual(form._csrf ?? "", p.session.csrfToken) && p.user.totpState === TOTP_STATE.pendingSetup) {
      await setTwoFactorCandidate(db, p.user.id, newTotpSecret());
    }
    return c.redirect("/login/2fa/setup", 303);
  });

  // ---- first run ------------------------------------------------------------------
  const closed = (c: Context) => {
    c.status(404);
    return c.render(
      <MessageView title="Setup is closed" message="This server already has an administrator, or it was not started with ADMIN_SECRET." link={["/login", "Sign in"]} />,
      { title: "Setup", narrow: true },
    );
  };

  /** Checks the secret with the attempt counter first; returns an error message or undefined. */
  const secretError = (c: Context, given: string): string | undefined => {
    const r = limits.setupPerAddress.hit(`setup:${remoteAddress(c)}`);
    if (!r.ok) return tooMany(c, r.retryAfter);
    if (!safeEqual(given, shared.adminSecret() ?? "")) {
      c.status(401);
      return "That is not the admin secret.";
    }
    return undefined;
  };

  app.get("/setup", async (c) => {
    if (!(await setupOpen())) return closed(c);
    return c.render(<SetupSecretView csrf={preloginCsrf(c)} />, { title: "Configure", narrow: true });
  });

  app.post("/setup", async (c) => {
    if (!(await setupOpen())) return closed(c);
    const form = await formOf(c);
    if (!preloginOk(c, form)) {
      c.status(403);
      return c.render(<SetupSecretView csrf={preloginCsrf(c)} error="The form expired. Please try again." />, { title: "Configure", narrow: true });
    }
    const secret = form.secret ?? "";
    const error = secretError(c, secret);
    if (error) return c.render(<SetupSecretView csrf={preloginCsrf(c)} error={error} />, { title: "Configure", narrow: true });
    return c.render(<SetupAdminView csrf={preloginCsrf(c)} secret={secret} values={{}} errors={{}} />, { title: "Configure", narrow: true });
  });

  app.post("/setup/admin", async (c) => {
    if (!(await setupOpen())) return closed(c);
    const form = await formOf(c);
    if (!preloginOk(c, form)) return c.redirect("/setup", 303);
    const secret = form.secret ?? "";
    const secretProblem = secretError(c, secret);
    if (secretProblem) return c.render(<SetupSecretView csrf={preloginCsrf(c)} error={secretProblem} />, { title: "Configure", narrow: true });
    const values = { email: (form.email ?? "").trim(), fullName: (form.fullName ?? "").trim(), enable2fa: form.enable2fa === "on" };
    const errors: FieldErrors = {};
    if (!values.email) errors.email = "Email is required.";
    const password = form.password ?? "";
    if (password.length < MIN_PASSWORD_LENGTH) errors.password = `Use at least ${MIN_PASSWORD_LENGTH} characters.`;
    if (password !== (form.confirm ?? "")) errors.confirm = "The passwords do not match.";
    let user: UserRow | undefined;
    if (!Object.keys(errors).length) {
      try {
        const info = await createUser(db, { email: values.email, fullName: values.fullName, password, origin: USER_ORIGIN.dashboardSetup, enable2FA: values.enable2fa });
        user = await findUserById(db, info.id);
      } catch (err) {
        errors.email = errorMessage(err);
      }
    }
    if (!user) {
      c.status(422);
      return c.render(<SetupAdminView csrf={preloginCsrf(c)} secret={secret} values={values} errors={errors} />, { title: "Configure", narrow: true });
    }
    return startSession(c, user);
  });

  return app;
}

let dummy: Promise<string> | undefined;
/** Verified against when the email is unknown, so a login takes as long either way. */
function dummyHash(): Promise<string> {
  dummy ??= Bun.password.hash("spokes-dummy-password", { algorithm: "argon2id" });
  return dummy;
}
