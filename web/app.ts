// The web application on the server's own domain: the client API now; the dashboard
// and the Admin API mount here too.
import { Hono } from "hono";
import { CLIENT_API_BASE } from "../lib/tunnel/messages.ts";
import { VERSION } from "../lib/version.ts";
import { createClientApi, type ClientApiDeps } from "./client-api.ts";

export type WebAppDeps = ClientApiDeps;

export function createWebApp(deps: WebAppDeps) {
  const app = new Hono();
  app.route(CLIENT_API_BASE, createClientApi(deps));
  app.get("/", (c) =>
    c.html(
      `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Spokes</title></head>` +
        `<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem"><h1>Spokes</h1>` +
        `<p>Reverse-tunnel edge server ${VERSION} for <b>${deps.config().domain.replace(/[<>&"]/g, "")}</b>.</p></body></html>`,
    ),
  );
  app.notFound((c) => c.json({ status: false, error: "not found" }, 404));
  return app;
}
