// Whether the SQLite file the server opened is still the one at the configured path, and
// readable there. An open connection keeps reading a file that was moved away, replaced,
// deleted, made unreadable or overwritten in place (from its page cache), while the admin
// CLI and the next start (which open the path) would fail or see another database: the
// server must say it is unhealthy instead of serving a database nobody else can open.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { resolve } from "node:path";

export interface FileIdentity {
  /** Throws a one-line reason when the path no longer names the opened file, readable as SQLite. */
  check(): void;
}

/** The first 16 bytes of every SQLite database file (sqlite.org/fileformat.html, 1.3). */
const SQLITE_HEADER = Buffer.from("SQLite format 3\0", "latin1");

export function watchDatabaseFile(path: string): FileIdentity {
  const abs = resolve(path);
  const stat = () => statSync(abs, { throwIfNoEntry: false });
  const first = stat();
  return {
    check() {
      const now = stat();
      if (!now) throw new Error(`database file ${abs} is gone`);
      if (first && (now.ino !== first.ino || now.dev !== first.dev)) throw new Error(`database file ${abs} was replaced since the server opened it`);
      const header = Buffer.alloc(SQLITE_HEADER.length);
      let fd: number;
      try {
        fd = openSync(abs, "r");
      } catch (err) {
        throw new Error(`database file ${abs} cannot be opened: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      try {
        readSync(fd, header, 0, header.length, 0);
      } catch (err) {
        throw new Error(`database file ${abs} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      } finally {
        closeSync(fd);
      }
      if (!header.equals(SQLITE_HEADER)) throw new Error(`database file ${abs} is not an SQLite database any more (its header was overwritten)`);
    },
  };
}
