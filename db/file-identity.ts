// Whether the SQLite file the server opened is still the one at the configured path. An
// open connection keeps reading a file that was moved away, replaced or deleted, while the
// admin CLI (which opens the path) would create or read another one: the server must say
// it is unhealthy instead of serving a database nobody else sees.
import { statSync } from "node:fs";
import { resolve } from "node:path";

export interface FileIdentity {
  /** Throws a one-line reason when the path no longer names the opened file. */
  check(): void;
}

export function watchDatabaseFile(path: string): FileIdentity {
  const abs = resolve(path);
  const stat = () => statSync(abs, { throwIfNoEntry: false });
  const first = stat();
  return {
    check() {
      const now = stat();
      if (!now) throw new Error(`database file ${abs} is gone`);
      if (first && (now.ino !== first.ino || now.dev !== first.dev)) throw new Error(`database file ${abs} was replaced since the server opened it`);
    },
  };
}
