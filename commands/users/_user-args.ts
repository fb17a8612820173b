/** `(--email E | --id ID)`, the two ways to name a user. */
export const userArgs = {
  email: { type: "string", description: "Email of the user" },
  id: { type: "string", description: "ID of the user" },
} as const;
