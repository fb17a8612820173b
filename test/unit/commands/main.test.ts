import { expect, test } from "bun:test";
import { extractGlobalFlags } from "../../../commands/_main.ts";

test("--config is taken wherever it stands, in both spellings", () => {
  expect(extractGlobalFlags(["--config", "/a.json", "users", "ls"])).toEqual({ config: "/a.json", rest: ["users", "ls"] });
  expect(extractGlobalFlags(["users", "ls", "--config=/b.json", "--json"])).toEqual({ config: "/b.json", rest: ["users", "ls", "--json"] });
  expect(extractGlobalFlags(["users", "ls"])).toEqual({ config: undefined, rest: ["users", "ls"] });
});

test("arguments after -- are left alone", () => {
  expect(extractGlobalFlags(["x", "--", "--config", "y"])).toEqual({ config: undefined, rest: ["x", "--", "--config", "y"] });
});

test("--config without a path is a usage error (exit 2)", () => {
  for (const argv of [["users", "ls", "--config"], ["--config", "--json"], ["--config="]]) {
    expect(() => extractGlobalFlags(argv)).toThrow(expect.objectContaining({ message: "flag --config needs a path", exitCode: 2 }));
  }
});

test("--log-level and --log-format are global flags too", () => {
  expect(extractGlobalFlags(["serve", "--log-level", "debug", "--log-format=json"])).toEqual({ logLevel: "debug", logFormat: "json", rest: ["serve"] });
  expect(() => extractGlobalFlags(["serve", "--log-level"])).toThrow(expect.objectContaining({ message: "flag --log-level needs a value", exitCode: 2 }));
});
