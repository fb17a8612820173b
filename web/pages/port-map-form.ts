// Reads the port map form into a PortMap, checked with the client's configuration validator.
import { validateClientConfig } from "../../lib/client-config/validate.ts";
import type { PortMap } from "../../lib/client-config/types.ts";
import { UserError } from "../../lib/errors.ts";
import type { FieldErrors } from "../views/components.tsx";
import type { PortMapFormState } from "../views/port-maps.tsx";

const LABELS: Record<string, string> = { listenPort: "Local port", dstPort: "Destination port", destination: "Destination host", transport: "Transport", label: "Label" };

export function readPortMapForm(form: Record<string, string>, existing: PortMap[]): { map?: PortMap; state: PortMapFormState } {
  const values = {
    listenPort: (form.listenPort ?? "").trim(),
    destination: (form.destination ?? "").trim(),
    dstPort: (form.dstPort ?? "").trim(),
    label: (form.label ?? "").trim(),
  };
  const editing = form.editing === "1";
  const errors: FieldErrors = {};
  const state: PortMapFormState = { values, errors, editing: editing ? Number(values.listenPort) : undefined };
  const num = (raw: string, field: string): number | undefined => {
    const n = Number(raw);
    if (!raw || !Number.isInteger(n) || n < 1 || n > 65535) {
      errors[field] = `${LABELS[field]}: enter a port between 1 and 65535.`;
      return undefined;
    }
    return n;
  };
  const listenPort = num(values.listenPort, "listenPort");
  const dstPort = num(values.dstPort, "dstPort");
  if (!values.destination) errors.destination = "Destination host is required.";
  if (listenPort !== undefined && !editing && existing.some((m) => m.listenPort === listenPort)) {
    errors.listenPort = `Local port ${listenPort} is already mapped: edit that map instead.`;
  }
  if (Object.keys(errors).length) return { state };
  const candidate = { listenPort, dstPort, destination: values.destination, transport: form.transport || "tcp", label: values.label, http: existing.find((m) => m.listenPort === listenPort)?.http ?? false };
  try {
    const map = validateClientConfig({ portmaps: [candidate] }).portmaps[0]!;
    return { map, state };
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    const m = /^config portmaps\[0\]\.(\w+) (.*)$/.exec(err.message);
    if (m && LABELS[m[1]!]) errors[m[1] === "transport" ? "portmap" : m[1]!] = `${LABELS[m[1]!]} ${m[2]}`;
    else errors.portmap = err.message;
    return { state };
  }
}
