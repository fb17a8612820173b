// Live reload for `pktriot start`: rule commands edit the file while the client runs.
// The directory is watched, not the file, because saves replace the file by rename (an
// inode watch would go deaf after the first save) and editors do the same. Events come
// in bursts (temp write, rename, chmod), so they are debounced, and a reload whose
// bytes equal the last good ones is dropped.
import { watch, readFileSync, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { parseClientConfig } from "./file.ts";
import type { ClientConfig } from "./types.ts";

export interface WatchOptions {
  debounceMs?: number;
  /** A change that cannot be read or fails validation; the last good config stays in force. */
  onError?: (err: unknown) => void;
}

export interface ConfigWatcher {
  close(): void;
}

export function watchClientConfig(path: string, onChange: (config: ClientConfig) => void, opts: WatchOptions = {}): ConfigWatcher {
  const name = basename(path);
  const debounceMs = opts.debounceMs ?? 150;
  let last: string | undefined;
  try {
    last = readFileSync(path, "utf8");
  } catch {}
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const reload = () => {
    timer = undefined;
    if (closed) return;
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      // Between unlink and rename of a non-atomic editor save the file is briefly absent;
      // the rename that follows fires another event.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") opts.onError?.(err);
      return;
    }
    if (text === last) return;
    try {
      const config = parseClientConfig(text, path);
      last = text;
      onChange(config);
    } catch (err) {
      opts.onError?.(err);
    }
  };

  const watcher: FSWatcher = watch(dirname(path), { persistent: false }, (_event, file) => {
    // Some platforms omit the file name; then any event in the directory may be ours.
    if (file && file.toString() !== name) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(reload, debounceMs);
  });
  watcher.on("error", (err) => opts.onError?.(err));

  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      watcher.close();
    },
  };
}
