/** @jsxImportSource hono/jsx */
// /account — the signed-in admin's full name and password.
import { Hono, type Context } from "hono";
import { deleteUserSessions } from "../../db/queries/sessions.ts";
import { setFullName, setPassword, toUserInfo, verifyPassword } from "../../db/queries/users.ts";
import { DASHBOARD_COOKIE, clearCookie, type WebEnv, type WebShared } from "../context.ts";
import { AccountView } from "../views/account.tsx";
import type { FieldErrors } from "../views/components.tsx";
import { MIN_PASSWORD_LENGTH } from "./auth.tsx";
import { formOf } from "./form.ts";

export function createAccountPages(shared: WebShared) {
  const db = shared.deps.db;
  const app = new Hono<WebEnv>();

  const page = (c: Context<WebEnv>, extra: { ok?: string; errors?: FieldErrors; fullName?: string } = {}) => {
    const user = c.get("user");
    return c.render(
      <AccountView csrf={c.get("csrf")} email={user.email} fullName={extra.fullName ?? user.fullName} twoFactor={toUserInfo(user).twoFactor} ok={extra.ok} errors={extra.errors} />,
      { title: "Account" },
    );
  };

  app.get("/", (c) => page(c, { ok: c.req.query("done") === "name" ? "Name saved." : undefined }));

  app.post("/name", async (c) => {
    const fullName = ((await formOf(c)).fullName ?? "").trim();
    if (fullName.length > 200) {
      c.status(422);
      return page(c, { fullName, errors: { fullName: "Keep it under 200 characters." } });
    }
    await setFullName(db, c.get("user").id, fullName);
    return c.redirect("/account?done=name", 303);
  });

  app.post("/password", async (c) => {
    const form = await formOf(c);
    const user = c.get("user");
    const errors: FieldErrors = {};
    const password = form.password ?? "";
    if (password.length < MIN_PASSWORD_LENGTH) errors.password = `Use at least ${MIN_PASSWORD_LENGTH} characters.`;
    if (password !== (form.confirm ?? "")) errors.confirm = "The passwords do not match.";
    // Counted like a login: a stolen session must not be a password-guessing oracle.
    const limit = shared.limits.loginPerAccount.hit(`login:${user.email}`);
    if (!limit.ok) errors.current = "Too many attempts. Try again later.";
    else if (!(await verifyPassword(user, form.current ?? ""))) errors.current = "That is not your current password.";
    if (Object.keys(errors).length) {
      c.status(422);
      return page(c, { errors });
    }
    shared.limits.loginPerAccount.reset(`login:${user.email}`);
    await setPassword(db, user.id, password);
    await deleteUserSessions(db, user.id);
    clearCookie(c, DASHBOARD_COOKIE);
    return c.redirect("/login?m=password-changed", 303);
  });
  return app;
}
