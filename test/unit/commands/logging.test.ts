import { expect, test } from "bun:test";
import { createConsola } from "consola";
import { jsonReporter } from "../../../commands/_logging.ts";
import { isLogFields } from "../../../lib/log.ts";

test("the JSON reporter writes the stable keys, fields from the last argument", () => {
  const lines: string[] = [];
  const log = createConsola({ reporters: [jsonReporter((l) => lines.push(l))], level: 5 });
  log.info("tunnel abc online", { tunnel: "abc", remote: "10.0.0.1" });
  log.warn("plain warning");
  log.error(new Error("boom"));
  log.debug("count", 3);
  const parsed = lines.map((l) => (expect(l.endsWith("\n")).toBe(true), JSON.parse(l)));
  for (const p of parsed) expect(Object.keys(p)).toEqual(["time", "level", "msg", "tunnel", "remote", "service"]);
  expect(parsed[0]).toMatchObject({ level: "info", msg: "tunnel abc online", tunnel: "abc", remote: "10.0.0.1", service: null });
  expect(parsed[1]).toMatchObject({ level: "warn", msg: "plain warning", tunnel: null });
  expect(parsed[2]).toMatchObject({ level: "error", msg: "boom" });
  expect(parsed[3]).toMatchObject({ level: "debug", msg: "count 3" });
});

test("only objects made of log field keys count as fields", () => {
  expect(isLogFields({ tunnel: "a" })).toBe(true);
  expect(isLogFields({ tunnel: "a", other: 1 })).toBe(false);
  expect(isLogFields({})).toBe(false);
  expect(isLogFields(new Error("x"))).toBe(false);
});
