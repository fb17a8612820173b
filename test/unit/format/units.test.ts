import { expect, test } from "bun:test";
import { formatBytes, formatDate, formatUptime } from "../../../lib/format/units.ts";

test("formatDate: `Mar 20, 2020 17:28` in UTC; `-` for none", () => {
  expect(formatDate(new Date("2020-03-20T17:28:59Z"))).toBe("Mar 20, 2020 17:28");
  expect(formatDate(Date.parse("2021-01-05T03:04:00Z"))).toBe("Jan 5, 2021 03:04");
  expect(formatDate(null)).toBe("-");
  expect(formatDate(undefined)).toBe("-");
  expect(formatDate(new Date("garbage"))).toBe("-");
});

test("formatBytes: decimal units with two places, whole bytes below 1 KB", () => {
  expect(formatBytes(0)).toBe("0 B");
  expect(formatBytes(999)).toBe("999 B");
  expect(formatBytes(1000)).toBe("1.00 KB");
  expect(formatBytes(1_200_000)).toBe("1.20 MB");
  expect(formatBytes(35_000_000)).toBe("35.00 MB");
  expect(formatBytes(2.5e12)).toBe("2.50 TB");
  expect(formatBytes(-5)).toBe("0 B");
});

test("formatUptime: the largest whole unit", () => {
  expect(formatUptime(0)).toBe("-");
  expect(formatUptime(1)).toBe("1 sec");
  expect(formatUptime(59)).toBe("59 secs");
  expect(formatUptime(180)).toBe("3 mins");
  expect(formatUptime(3600)).toBe("1 hour");
  expect(formatUptime(7300)).toBe("2 hours");
  expect(formatUptime(86400 * 3)).toBe("3 days");
});
