import { defineCommand } from "citty";
import { SPOKES_SERVICE, serviceStatus } from "../_service.ts";

export default defineCommand({
  meta: { name: "status", description: "Show whether the service is installed, enabled and running" },
  run() {
    serviceStatus(SPOKES_SERVICE);
  },
});
