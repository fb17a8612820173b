import { expect, test } from "bun:test";
import { countLine, renderTable } from "../../../lib/format/table.ts";

test("renderTable pads every column to its widest cell, in the original's ASCII style", () => {
  expect(renderTable(["ID", "Email"], [["1", "ann@example.com"], ["22", "b@x.io"]])).toBe(
    [
      "+----+-----------------+",
      "| ID | Email           |",
      "+----+-----------------+",
      "| 1  | ann@example.com |",
      "| 22 | b@x.io          |",
      "+----+-----------------+",
    ].join("\n"),
  );
});

test("an empty table has its header only; missing cells print blank", () => {
  expect(renderTable(["Port No.", "User"], [])).toBe(["+----------+------+", "| Port No. | User |", "+----------+------+"].join("\n"));
  expect(renderTable(["A", "B"], [["x"]])).toBe(["+---+---+", "| A | B |", "+---+---+", "| x |   |", "+---+---+"].join("\n"));
});

test("countLine", () => {
  expect(countLine(7, "token")).toBe("7 tokens");
  expect(countLine(1, "tunnel")).toBe("1 tunnel");
  expect(countLine(0, "port allocation")).toBe("0 port allocations");
  expect(countLine(2, "entry", "entries")).toBe("2 entries");
});
