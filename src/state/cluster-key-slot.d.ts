// cluster-key-slot (ioredis's own dependency) ships no types.
declare module 'cluster-key-slot' {
  /** The Redis Cluster slot (CRC16 of the hash tag, or of the whole key, mod 16384). */
  export default function calculateSlot(key: string | Buffer): number
  /** The common slot of every key, or -1 when they differ. */
  export function generateMulti(keys: Array<string | Buffer>): number
}
