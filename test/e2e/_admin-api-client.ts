// A client of the Admin JSON API as the original Go library calls it: HTTPS, JSON headers
// on every request (GET too, with the body `null`) and a cookie jar for the session.
import { request as httpsRequest } from "node:https";

export const ADMIN_API_BASE = "/api/admin/v1.0";
export const JSON_HEADERS = { Accept: "application/json", "Content-Type": "application/json" };

export interface AdminResponse {
  status: number;
  json: Record<string, any>;
  setCookie: string[];
}

export class AdminApiClient {
  cookie = "";
  constructor(
    private readonly httpsPort: () => number,
    private readonly host = "spokes.test",
    /** Where the server listens (a cluster node in tests may bind 127.0.0.2). */
    private readonly address = "127.0.0.1",
  ) {}

  call(method: "GET" | "POST", path: string, body: unknown = null, headers: Record<string, string> = JSON_HEADERS): Promise<AdminResponse> {
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: this.address,
          port: this.httpsPort(),
          method,
          path: `${ADMIN_API_BASE}/${path}`,
          rejectUnauthorized: false,
          headers: { ...headers, Host: this.host, "Content-Length": String(Buffer.byteLength(payload)), ...(this.cookie && { Cookie: this.cookie }) },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d) => (text += d));
          res.on("end", () => {
            const setCookie = ([] as string[]).concat(res.headers["set-cookie"] ?? []);
            for (const c of setCookie) {
              const pair = c.split(";")[0]!;
              if (pair.startsWith("spokes_api=")) this.cookie = pair.endsWith("=") ? "" : pair;
            }
            try {
              resolve({ status: res.statusCode ?? 0, json: JSON.parse(text), setCookie });
            } catch {
              reject(new Error(`${method} ${path}: ${res.statusCode} not JSON: ${text.slice(0, 200)}`));
            }
          });
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  get(path: string) {
    return this.call("GET", path);
  }

  post(path: string, body: unknown) {
    return this.call("POST", path, body);
  }

  /** `POST auth` with an admin API key; throws unless the session cookie was set. */
  async login(key: string): Promise<this> {
    const r = await this.post("auth", { key });
    if (r.json.status !== true || !this.cookie) throw new Error(`admin API auth failed: ${r.status} ${JSON.stringify(r.json)}`);
    return this;
  }
}
