// The database file check behind /healthz: the path must still name the opened file,
// be openable, and start with the SQLite header.
import { expect, test } from "bun:test";
import { copyFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { watchDatabaseFile } from "../../../db/file-identity.ts";

const HEADER = "SQLite format 3\0";

function dbFile(): string {
  const path = join(mkdtempSync(join(tmpdir(), "spokes-identity-")), "spokes.db");
  writeFileSync(path, HEADER + "rest of page one");
  return path;
}

test("the same readable SQLite file passes", () => {
  const path = dbFile();
  expect(() => watchDatabaseFile(path).check()).not.toThrow();
});

test("a header overwritten in place, a replaced file and a removed one each fail with their reason", () => {
  const path = dbFile();
  const identity = watchDatabaseFile(path);
  writeFileSync(path, "garbage garbage garbage", { flag: "r+" });
  expect(() => identity.check()).toThrow(`database file ${path} is not an SQLite database any more (its header was overwritten)`);
  writeFileSync(path, HEADER, { flag: "r+" });
  expect(() => identity.check()).not.toThrow();

  copyFileSync(path, `${path}.new`);
  renameSync(`${path}.new`, path);
  expect(() => identity.check()).toThrow(`database file ${path} was replaced since the server opened it`);
  rmSync(path);
  expect(() => identity.check()).toThrow(`database file ${path} is gone`);
});

test("a file shorter than the header is not a database", () => {
  const path = dbFile();
  const identity = watchDatabaseFile(path);
  writeFileSync(path, "SQLite");
  expect(() => identity.check()).toThrow("is not an SQLite database any more");
});
