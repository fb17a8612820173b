// The three host name variants: where they agree, and the cases they tell apart on purpose.
import { describe, expect, test } from "bun:test";
import { isHostname, nameCovers, normalizeDnsHostname, normalizeSniHostname } from "../../../lib/net/hostname.ts";

describe("host name variants", () => {
  test("both normalisers lowercase and drop one trailing dot", () => {
    for (const normalize of [normalizeSniHostname, normalizeDnsHostname]) {
      expect(normalize("WWW.Example.COM.")).toBe("www.example.com");
      expect(normalize("a.b")).toBe("a.b");
      expect(normalize("_dmarc.example.com")).toBe("_dmarc.example.com");
      expect(normalize(`${"a".repeat(63)}.example`)).toBe(`${"a".repeat(63)}.example`);
    }
  });

  test("both refuse empty labels, long names and labels, and non-ASCII", () => {
    for (const normalize of [normalizeSniHostname, normalizeDnsHostname]) {
      for (const bad of ["", ".", "a.b..", "a..b", ".a", "x".repeat(254), `${"a".repeat(64)}.example`, "exämple.com", "a b.com", "a:80", "*.a.com"]) {
        expect(normalize(bad)).toBeNull();
      }
    }
  });

  test("SNI is lenient where browsers are: hyphens at label edges, numeric last labels", () => {
    expect(normalizeSniHostname("-edge-.example.com")).toBe("-edge-.example.com");
    expect(normalizeSniHostname("1.2.3.999")).toBe("1.2.3.999");
    expect(normalizeSniHostname("10.0.0.1")).toBe("10.0.0.1");
  });

  test("DNS refuses a hyphen at a label edge and a numeric last label (a mistyped address)", () => {
    expect(normalizeDnsHostname("-edge.example.com")).toBeNull();
    expect(normalizeDnsHostname("edge-.example.com")).toBeNull();
    expect(normalizeDnsHostname("1.2.3.999")).toBeNull();
    expect(normalizeDnsHostname("10.0.0.256")).toBeNull();
    expect(normalizeDnsHostname("host.123a")).toBe("host.123a");
  });

  test("configured names: strict LDH, no underscore, no trailing dot, any case", () => {
    expect(isHostname("Example.COM")).toBe(true);
    expect(isHostname("a-b.example.com")).toBe(true);
    for (const bad of ["_dmarc.example.com", "example.com.", "-a.example.com", "a..b", "", "x".repeat(254)]) expect(isHostname(bad)).toBe(false);
  });

  test("a wildcard certificate name covers one whole leftmost label", () => {
    expect(nameCovers("*.example.com", "a.example.com")).toBe(true);
    expect(nameCovers("*.example.com", "example.com")).toBe(false);
    expect(nameCovers("*.example.com", "a.b.example.com")).toBe(false);
    expect(nameCovers("example.com", "example.com")).toBe(true);
    expect(nameCovers("a*.example.com", "ab.example.com")).toBe(false);
  });
});
