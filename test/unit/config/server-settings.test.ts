// Dashboard settings merged into the running configuration.
import { expect, test } from "bun:test";
import { defaultServerConfig } from "../../../lib/config/server-config.ts";
import { applyServerSettings, mergeServerSettings, settingsPatchFrom, tlsModeOf } from "../../../lib/config/server-settings.ts";

const cfg = () => {
  const c = defaultServerConfig("spokes.test");
  c.database.path = "/tmp/x/spokes.db";
  return c;
};

test("applies in place, reports changed sections, validates as a whole", () => {
  const c = cfg();
  const ref = c;
  expect(applyServerSettings(c, { tunOptions: { maxPorts: 2 }, socks: { allow: ["10.0.0.0/8"] } })).toEqual(["tunOptions", "socks"]);
  expect(ref.tunOptions).toEqual({ maxPoolSize: 5, maxPorts: 2, autoHostnames: false });
  expect(ref.socks.allow).toEqual(["10.0.0.0/8"]);
  expect(applyServerSettings(c, { tunOptions: { maxPorts: 2 } })).toEqual([]);
  expect(() => applyServerSettings(c, { monitor: { intervalSeconds: 1 } })).toThrow("config monitor.intervalSeconds (1) must be between 5 and 86400");
  expect(() => applyServerSettings(c, { socks: { allow: ["*bad*"] } })).toThrow(/invalid allow-list entry/);
  expect(() => applyServerSettings(c, { domain: "no way" })).toThrow(/config domain/);
  expect(c.monitor.intervalSeconds).toBe(60);
});

test("tls modes and stored sections", () => {
  const c = cfg();
  expect(tlsModeOf(mergeServerSettings(c, { tls: { useLE: true, selfSigned: false, certificate: "", privateKey: "" } }))).toBe("letsencrypt");
  expect(tlsModeOf(mergeServerSettings(c, { tls: { useLE: false, selfSigned: false, certificate: "/a.pem", privateKey: "/b.pem" } }))).toBe("custom");
  expect(tlsModeOf(c)).toBe("selfSigned");
  expect(settingsPatchFrom({ domain: "x.test", junk: 1, monitor: { enabled: true } })).toEqual({ domain: "x.test", monitor: { enabled: true } });
});
