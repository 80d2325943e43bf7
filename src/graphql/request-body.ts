/**
 * Reads a request body into one Buffer, refusing more than a limit without buffering
 * it. A body over the limit rejects with BodyTooLarge; the caller answers 413.
 */
import type { IncomingMessage } from 'node:http';

/** The largest request body accepted: 1 MiB (PRODUCT.md). */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Thrown when a body exceeds the limit. */
export class BodyTooLarge extends Error {
  readonly code = 'PGCASCADE_BODY_TOO_LARGE';
  constructor(readonly limitBytes: number) {
    super(`request body exceeds ${limitBytes} bytes`);
  }
}

/** Collects the body of `req`, at most `limitBytes` (default 1 MiB). */
export function readBody(req: IncomingMessage, limitBytes = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limitBytes) return Promise.reject(new BodyTooLarge(limitBytes));

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        req.off('data', onData);
        reject(new BodyTooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}
