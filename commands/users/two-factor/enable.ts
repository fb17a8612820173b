import { twoFactorCommand } from "./_action.ts";

export default twoFactorCommand("enable");
