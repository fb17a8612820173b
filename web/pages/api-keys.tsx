/** @jsxImportSource hono/jsx */
// /api-keys — admin API keys: create (the value is shown once), list, revoke.
import { Hono } from "hono";
import { createAdminApiKey, listAdminApiKeys, revokeAdminApiKey } from "../../db/queries/admin-api-keys.ts";
import { deleteApiKeySessions } from "../../db/queries/sessions.ts";
import { isId } from "../../db/ids.ts";
import type { WebEnv, WebShared } from "../context.ts";
import { ApiKeysView } from "../views/tokens.tsx";
import { formOf } from "./form.ts";

export function createApiKeyPages(shared: WebShared) {
  const db = shared.deps.db;
  const app = new Hono<WebEnv>();

  app.get("/", async (c) =>
    c.render(<ApiKeysView csrf={c.get("csrf")} keys={await listAdminApiKeys(db)} ok={c.req.query("done") === "revoked" ? "API key revoked." : undefined} />, { title: "API keys" }),
  );

  app.post("/", async (c) => {
    const description = ((await formOf(c)).description ?? "").trim().slice(0, 200);
    const { value } = await createAdminApiKey(db, { description });
    return c.render(<ApiKeysView csrf={c.get("csrf")} keys={await listAdminApiKeys(db)} created={{ value, description }} ok="API key created." />, { title: "API keys" });
  });

  app.post("/:id/revoke", async (c) => {
    const id = c.req.param("id");
    if (isId(id)) {
      const revoked = await revokeAdminApiKey(db, id).catch(() => undefined);
      // Sessions opened with the key end with it.
      if (revoked) await deleteApiKeySessions(db, id);
    }
    return c.redirect("/api-keys?done=revoked", 303);
  });
  return app;
}
