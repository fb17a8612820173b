// Frees the memory of a read buffer as soon as its bytes have been sent or copied, instead
// of whenever the garbage collector next runs a full collection. Bun hands out a fresh
// buffer of up to 1 MiB per socket read; under bulk traffic those dead buffers piled up to
// 40-55 MiB between collections (docs/performance-log.md). Detaching the ArrayBuffer
// (ES2024 `transfer(0)`) returns its backing store to the allocator at once, so the next
// read reuses warm memory and the server's peak RSS no longer depends on GC timing.

/**
 * Detaches `bytes`' ArrayBuffer when the view covers all of it. Only for buffers nobody
 * else holds a view of (a socket read handed on with `release`): any other view of the
 * same buffer reads as empty afterwards.
 */
export function releaseBuffer(bytes: Uint8Array): void {
  const buffer = bytes.buffer;
  if (bytes.byteOffset !== 0 || bytes.byteLength !== buffer.byteLength) return;
  releaseArrayBuffer(buffer);
}

/**
 * A copy in a buffer of its own, for bytes to be kept past the call that handed them over
 * (on a Buffer, `slice()` would be a view of the same memory).
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** Detaches a buffer of our own (every view of it reads as empty afterwards). */
export function releaseArrayBuffer(buffer: ArrayBufferLike): void {
  if (buffer instanceof ArrayBuffer && !buffer.detached) (buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
}
