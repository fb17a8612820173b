import { defineCommand } from "citty";
import { removeSocksListener } from "../../../lib/client-config/index.ts";
import { editClientConfig } from "../../_client-context.ts";
import { configArgs } from "../../_shared.ts";

export default defineCommand({
  meta: { name: "rm", alias: ["remove"], description: "Remove the SOCKS5 listener" },
  args: { ...configArgs },
  async run({ args }) {
    const { result: port } = await editClientConfig(args, (c) => removeSocksListener(c));
    console.log(`Removed SOCKS proxy on 127.0.0.1:${port}`);
  },
});
