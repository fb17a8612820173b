import { describe, expect, test } from "bun:test";
import { TUNED_ALLOCATOR_ENV, tunedAllocatorEnv } from "../../../commands/_tuned-allocator.ts";

describe("tunedAllocatorEnv", () => {
  test("adds the allocator settings to the environment, keeping every other variable", () => {
    const env = tunedAllocatorEnv({ HOME: "/root", PATH: "/usr/bin", EMPTY: "", GONE: undefined });
    expect(env).toEqual({ HOME: "/root", PATH: "/usr/bin", EMPTY: "", MIMALLOC_PURGE_DELAY: "1000", MIMALLOC_PURGE_HOLES: "0" });
    expect(TUNED_ALLOCATOR_ENV).toEqual({ MIMALLOC_PURGE_DELAY: "1000", MIMALLOC_PURGE_HOLES: "0" });
  });

  test("no restart once either setting is present: after the restart, or set by the user (even to empty)", () => {
    expect(tunedAllocatorEnv({ MIMALLOC_PURGE_DELAY: "1000", MIMALLOC_PURGE_HOLES: "0" })).toBeNull();
    expect(tunedAllocatorEnv({ MIMALLOC_PURGE_DELAY: "100" })).toBeNull();
    expect(tunedAllocatorEnv({ MIMALLOC_PURGE_HOLES: "1" })).toBeNull();
    expect(tunedAllocatorEnv({ MIMALLOC_PURGE_DELAY: "" })).toBeNull();
  });
});
