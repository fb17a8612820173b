/** The token of an `Authorization: Bearer <token>` header, or "" when there is none. */
export function bearerToken(header: string | null | undefined): string {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  return m ? m[1]! : "";
}
