// The admin CLI's one table printer, in the original's ASCII style:
//   +----+-------+
//   | ID | Email |
//   +----+-------+
//   | .. | ..    |
//   +----+-------+

export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const rule = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+`;
  const line = (cells: string[]) => `| ${widths.map((w, i) => (cells[i] ?? "").padEnd(w)).join(" | ")} |`;
  const out = [rule, line(headers), rule];
  if (rows.length) out.push(...rows.map(line), rule);
  return out.join("\n");
}

/** `7 tokens`, `1 tunnel`, `4 port allocations`. */
export function countLine(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}
