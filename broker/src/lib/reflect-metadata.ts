/**
 * The smallest Reflect metadata API that @peculiar/x509 2.x needs before it can load.
 *
 * @peculiar/x509 registers its algorithm classes with tsyringe, and tsyringe refuses to load unless
 * `Reflect.getMetadata` exists (its README asks the application to import `reflect-metadata`). That
 * package is not a dependency of this repository, and the classes tsyringe builds here all have
 * constructors without parameters, so three functions over a WeakMap are all it ever calls:
 * `getMetadata` (walks the prototype chain), `getOwnMetadata` and `defineMetadata`, plus `metadata`
 * for decorators. Installed only when missing, so a real polyfill loaded earlier always wins.
 *
 * Import this module before `@peculiar/x509`; `./x509.ts` does, and nothing else should import
 * the library directly.
 */
type Target = object;
const store = new WeakMap<Target, Map<unknown, unknown>>();

function own(target: Target, create: boolean): Map<unknown, unknown> | undefined {
  let m = store.get(target);
  if (!m && create) {
    m = new Map();
    store.set(target, m);
  }
  return m;
}

const api = {
  defineMetadata(key: unknown, value: unknown, target: Target): void {
    own(target, true)!.set(key, value);
  },
  getOwnMetadata(key: unknown, target: Target): unknown {
    return own(target, false)?.get(key);
  },
  getMetadata(key: unknown, target: Target): unknown {
    for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t) as Target | null) {
      const m = own(t, false);
      if (m?.has(key)) return m.get(key);
    }
    return undefined;
  },
  metadata(key: unknown, value: unknown) {
    return (target: Target): void => api.defineMetadata(key, value, target);
  },
};

const R = Reflect as unknown as Record<string, unknown>;
if (typeof R.getMetadata !== 'function') {
  for (const [name, fn] of Object.entries(api)) {
    Object.defineProperty(Reflect, name, { value: fn, writable: true, configurable: true, enumerable: false });
  }
}

export {};
