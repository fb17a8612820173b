/** @jsxImportSource hono/jsx */
// /tokens — registration tokens: create, list, edit description, activate/deactivate.
import { Hono, type Context } from "hono";
import { createRegistrationToken, listRegistrationTokens, updateRegistrationToken } from "../../db/queries/registration-tokens.ts";
import { isId } from "../../db/ids.ts";
import type { WebEnv, WebShared } from "../context.ts";
import { TokensView } from "../views/tokens.tsx";
import { formOf } from "./form.ts";

const DONE: Record<string, string> = { saved: "Description saved.", activated: "Token activated.", deactivated: "Token deactivated." };
const MAX_DESCRIPTION = 200;

export function createTokenPages(shared: WebShared) {
  const db = shared.deps.db;
  const app = new Hono<WebEnv>();
  const page = async (c: Context<WebEnv>, extra: Partial<Parameters<typeof TokensView>[0]> = {}) =>
    c.render(<TokensView csrf={c.get("csrf")} tokens={await listRegistrationTokens(db)} ok={DONE[c.req.query("done") ?? ""]} {...extra} />, { title: "Tokens" });

  app.get("/", (c) => page(c));

  app.post("/", async (c) => {
    const form = await formOf(c);
    const description = (form.description ?? "").trim();
    if (description.length > MAX_DESCRIPTION) {
      c.status(422);
      return page(c, { errors: { description: `Keep it under ${MAX_DESCRIPTION} characters.` } });
    }
    const created = await createRegistrationToken(db, { description, active: form.active === "on" });
    return page(c, { created, ok: "Registration token created." });
  });

  app.post("/:id/description", async (c) => {
    const id = c.req.param("id");
    const description = ((await formOf(c)).description ?? "").trim();
    if (!isId(id)) return c.redirect("/tokens", 303);
    if (description.length > MAX_DESCRIPTION) {
      c.status(422);
      return page(c, { error: `Description: keep it under ${MAX_DESCRIPTION} characters.` });
    }
    await updateRegistrationToken(db, id, { description }).catch(() => undefined);
    return c.redirect("/tokens?done=saved", 303);
  });

  app.post("/:id/active", async (c) => {
    const id = c.req.param("id");
    const active = (await formOf(c)).active === "on";
    if (!isId(id)) return c.redirect("/tokens", 303);
    await updateRegistrationToken(db, id, { active }).catch(() => undefined);
    return c.redirect(`/tokens?done=${active ? "activated" : "deactivated"}`, 303);
  });
  return app;
}
