import { expect, test } from "bun:test";
import { extractGlobalConfig } from "../../../commands/_main.ts";

test("--config is taken wherever it stands, in both spellings", () => {
  expect(extractGlobalConfig(["--config", "/a.json", "users", "ls"])).toEqual({ config: "/a.json", rest: ["users", "ls"] });
  expect(extractGlobalConfig(["users", "ls", "--config=/b.json", "--json"])).toEqual({ config: "/b.json", rest: ["users", "ls", "--json"] });
  expect(extractGlobalConfig(["users", "ls"])).toEqual({ config: undefined, rest: ["users", "ls"] });
});

test("arguments after -- are left alone", () => {
  expect(extractGlobalConfig(["x", "--", "--config", "y"])).toEqual({ config: undefined, rest: ["x", "--", "--config", "y"] });
});

test("--config without a path is a usage error (exit 2)", () => {
  for (const argv of [["users", "ls", "--config"], ["--config", "--json"], ["--config="]]) {
    expect(() => extractGlobalConfig(argv)).toThrow(expect.objectContaining({ message: "flag --config needs a path", exitCode: 2 }));
  }
});
