/** Rounds `n` up to a multiple of `alignment`, a power of two. */
export function alignUp(n: number, alignment: number): number {
  return (n + alignment - 1) & ~(alignment - 1);
}

/** Whether `n` is a positive power of two. */
export function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** The 32-bit FNV-1a hash of a string's UTF-16 code units. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
