import { defineCommand } from "citty";
import { removeHttpRule } from "../../lib/client-config/index.ts";
import { editClientConfig } from "../_client-context.ts";
import { configArgs, requireValue } from "../_shared.ts";

export default defineCommand({
  meta: { name: "rm", alias: ["remove", "delete"], description: "Remove the HTTP rule for a domain" },
  args: { ...configArgs, domain: { type: "string", description: "Domain of the rule", valueHint: "DOMAIN" } },
  async run({ args }) {
    const domain = requireValue(args.domain, "domain").toLowerCase();
    await editClientConfig(args, (c) => removeHttpRule(c, domain));
    console.log(`Removed HTTP rule for ${domain}`);
  },
});
