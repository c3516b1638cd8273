import { randomInt } from 'node:crypto';
import net from 'node:net';

/**
 * Ports handed to servers that bind them a moment later come from below the kernel's
 * ephemeral range (32768–60999 on Linux): a port from inside it may become the local end of
 * some outgoing connection meanwhile, and the server's bind then fails with EADDRINUSE.
 */
const FIRST_PORT = 10_000;
const LAST_PORT = 32_767;
const ATTEMPTS = 50;

function listens(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as net.AddressInfo;
      server.close(() => resolve(bound));
    });
  });
}

/** A port free on loopback right now, outside the ephemeral range when one can be found there. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const port = await listens(randomInt(FIRST_PORT, LAST_PORT + 1));
    if (port !== undefined) return port;
  }
  const port = await listens(0);
  if (port === undefined) throw new Error('no free port on 127.0.0.1');
  return port;
}
