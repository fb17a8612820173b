import { defineCommand } from "citty";
import { PKTRIOT_SERVICE, serviceStatus } from "../_service.ts";

export default defineCommand({
  meta: { name: "status", description: "Show whether the service is installed, enabled and running" },
  run() {
    serviceStatus(PKTRIOT_SERVICE);
  },
});
