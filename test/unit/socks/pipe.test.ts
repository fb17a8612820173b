import { describe, expect, test } from "bun:test";
import { pipe } from "../../../lib/net/pipe.ts";
import { FakeConnection } from "./fake-connection.ts";

const t = (s: string) => new TextEncoder().encode(s);

describe("pipe", () => {
  test("carries data both ways and counts it", async () => {
    const a = new FakeConnection();
    const b = new FakeConnection();
    const done = pipe(a, b);
    expect(a.paused).toBe(false);
    expect(b.paused).toBe(false);
    a.ondata!(t("hello"));
    b.ondata!(t("hi"));
    expect(b.bytes()).toEqual(t("hello"));
    expect(a.bytes()).toEqual(t("hi"));
    a.onclose!();
    b.onclose!();
    expect(await done).toEqual({ bytesAtoB: 5, bytesBtoA: 2 });
  });

  test("backpressure: a full destination pauses the source until it drains", () => {
    const a = new FakeConnection();
    const b = new FakeConnection();
    void pipe(a, b);
    b.accept = false;
    a.ondata!(t("x"));
    expect(a.paused).toBe(true);
    b.accept = true;
    b.ondrain!();
    expect(a.paused).toBe(false);
  });

  test("half-close is passed on, without closing the other direction", () => {
    const a = new FakeConnection();
    const b = new FakeConnection();
    void pipe(a, b);
    a.onend!();
    expect(b.ended).toBe(true);
    expect(a.ended).toBe(false);
    b.ondata!(t("still flowing"));
    expect(a.bytes()).toEqual(t("still flowing"));
  });

  test("an abrupt close resets the other side at once", async () => {
    const a = new FakeConnection();
    const b = new FakeConnection();
    const done = pipe(a, b);
    a.onclose!(new Error("ECONNRESET"));
    expect(b.resets).toBe(1);
    b.onclose!();
    expect((await done).error?.message).toBe("ECONNRESET");
  });

  test("after a clean close the other side gets end(), then a reset if it lingers", async () => {
    const a = new FakeConnection();
    const b = new FakeConnection();
    const done = pipe(a, b, { lingerMs: 30 });
    a.onclose!();
    expect(b.ended).toBe(true);
    expect(b.resets).toBe(0);
    const deadline = Date.now() + 2000;
    while (b.resets === 0 && Date.now() < deadline) await Bun.sleep(5);
    expect(b.resets).toBe(1);
    b.onclose!();
    await done;
  });

  test("bytes already in hand go first; the side behind them waits for drain", () => {
    const a = new FakeConnection();
    const b = new FakeConnection();
    b.accept = false;
    void pipe(a, b, { initialAtoB: t("early"), initialBtoA: t("banner") });
    expect(b.bytes()).toEqual(t("early"));
    expect(a.bytes()).toEqual(t("banner"));
    expect(a.paused).toBe(true); // b did not take "early" yet
    expect(b.paused).toBe(false); // a took "banner"
    b.ondrain!();
    expect(a.paused).toBe(false);
  });
});
