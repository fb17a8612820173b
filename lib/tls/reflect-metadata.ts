/**
 * The few `Reflect` metadata functions tsyringe (a dependency of @peculiar/x509)
 * requires at import time: it throws "tsyringe requires a reflect polyfill" unless
 * `Reflect.getMetadata` exists. @peculiar/x509 only stores and reads plain values
 * (constructor parameter tokens), so a WeakMap keyed by target is all it needs; the
 * `reflect-metadata` package would do the same and can replace this file.
 *
 * Import this module before `@peculiar/x509` (ES modules evaluate in import order).
 */
type Target = object;
type Store = Map<unknown, Map<PropertyKey | undefined, unknown>>;

const R = Reflect as unknown as Record<string, unknown>;

if (typeof R.getMetadata !== "function") {
  const stores = new WeakMap<Target, Store>();
  const own = (key: unknown, target: Target, prop?: PropertyKey): unknown => stores.get(target)?.get(key)?.get(prop);
  const hasOwn = (key: unknown, target: Target, prop?: PropertyKey): boolean => stores.get(target)?.get(key)?.has(prop) ?? false;
  const define = (key: unknown, value: unknown, target: Target, prop?: PropertyKey): void => {
    let store = stores.get(target);
    if (!store) stores.set(target, (store = new Map()));
    let byProp = store.get(key);
    if (!byProp) store.set(key, (byProp = new Map()));
    byProp.set(prop, value);
  };
  const find = (key: unknown, target: Target, prop?: PropertyKey): { found: boolean; value: unknown } => {
    for (let t: Target | null = target; t; t = Object.getPrototypeOf(t)) {
      if (hasOwn(key, t, prop)) return { found: true, value: own(key, t, prop) };
    }
    return { found: false, value: undefined };
  };
  const ownKeys = (target: Target, prop?: PropertyKey): unknown[] => [...(stores.get(target) ?? new Map()).entries()].filter(([, byProp]) => byProp.has(prop)).map(([key]) => key);
  Object.assign(R, {
    // The full provider surface: when the real `reflect-metadata` (acme-client's
    // @peculiar/x509) loads after this shim, it adopts these five as a fallback provider.
    getOwnMetadataKeys: ownKeys,
    deleteMetadata: (key: unknown, target: Target, prop?: PropertyKey): boolean => stores.get(target)?.get(key)?.delete(prop) ?? false,
    defineMetadata: define,
    getOwnMetadata: own,
    hasOwnMetadata: hasOwn,
    getMetadata: (key: unknown, target: Target, prop?: PropertyKey) => find(key, target, prop).value,
    hasMetadata: (key: unknown, target: Target, prop?: PropertyKey) => find(key, target, prop).found,
    metadata: (key: unknown, value: unknown) => (target: Target, prop?: PropertyKey) => define(key, value, target, prop),
  });
}

export {};
