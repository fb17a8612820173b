// Reading url-encoded / multipart form posts as plain strings (files are read separately).
import type { Context } from "hono";

export async function formOf(c: Context): Promise<Record<string, string>> {
  const body = await c.req.parseBody();
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === "string") out[k] = v;
  return out;
}

/** An uploaded file's text, or the textarea with the same purpose; "" when neither. */
export async function fileOrText(c: Context, fileField: string, textField: string, maxBytes = 256 * 1024): Promise<string> {
  const body = await c.req.parseBody();
  const f = body[fileField];
  if (f instanceof File && f.size > 0) {
    if (f.size > maxBytes) throw new Error(`${f.name} is larger than ${Math.round(maxBytes / 1024)} KiB`);
    return await f.text();
  }
  const t = body[textField];
  return typeof t === "string" ? t.trim() : "";
}
