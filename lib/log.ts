// The logger interface the engines receive. Engines never configure logging (the
// commands do); they only name the structured fields a line is about, so a JSON log
// can carry them as keys instead of words inside the message.

/** Structured fields of a log line: the tunnel ID, the visitor's address, the service (hostname or port). */
export interface LogFields {
  tunnel?: string;
  remote?: string;
  service?: string;
}

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
}

export const LOG_FIELD_KEYS = ["tunnel", "remote", "service"] as const;

/** True for an object that holds only log fields (how a reporter tells them from other arguments). */
export function isLogFields(v: unknown): v is LogFields {
  if (!v || typeof v !== "object" || Array.isArray(v) || v instanceof Error) return false;
  const keys = Object.keys(v);
  return keys.length > 0 && keys.every((k) => (LOG_FIELD_KEYS as readonly string[]).includes(k));
}
