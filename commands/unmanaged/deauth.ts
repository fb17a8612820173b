import { defineCommand } from "citty";
import { ServerRefusedError } from "../../lib/client-api/index.ts";
import { saveClientConfig } from "../../lib/client-config/index.ts";
import { clientApiFor, openClientConfig } from "../_client-context.ts";
import { configArgs } from "../_shared.ts";

export default defineCommand({
  meta: { name: "deauth", description: "Deactivate this client's key on the server and remove it from the configuration" },
  args: { ...configArgs },
  async run({ args }) {
    const ctx = openClientConfig(args);
    try {
      await clientApiFor(ctx).deauth();
    } catch (err) {
      // A key the server no longer accepts is as good as deactivated: still forget it here.
      if (!(err instanceof ServerRefusedError) || (err.httpStatus !== 401 && err.httpStatus !== 403)) throw err;
      console.error(`warning: the server did not accept the key (${err.reason}); removing it locally`);
    }
    saveClientConfig(ctx.path, { ...ctx.config, key: "", tunnelID: "" });
    console.log("Tunnel deauthorized");
  },
});
