// What runs and what listens on this host, read from /proc: for tests of processes and sockets.
import { promises as fs } from 'node:fs';

/** Processes whose working directory lies under `dir`: what a build or a function of that data directory runs. */
export async function processesUnder(dir: string): Promise<number[]> {
  const pids = (await fs.readdir('/proc')).filter((entry) => /^\d+$/.test(entry));
  const found: number[] = [];
  for (const pid of pids) {
    const cwd = await fs.readlink(`/proc/${pid}/cwd`).catch(() => '');
    if (cwd.startsWith(dir)) found.push(Number(pid));
  }
  return found;
}

/** `0100007F` (little-endian, as /proc/net/tcp writes IPv4) → `127.0.0.1`; IPv6 as `::` when all zero. */
function procAddress(hex: string): string {
  if (hex.length === 8) return (hex.match(/../g) ?? []).reverse().map((byte) => parseInt(byte, 16)).join('.');
  return /^0+$/.test(hex) ? '::' : hex.toLowerCase();
}

/** The local addresses of the sockets listening on TCP `port`, from /proc/net/tcp and tcp6: who may connect, without connecting. */
export async function listeningAddresses(port: number): Promise<string[]> {
  const LISTEN = '0A';
  const found: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = (await fs.readFile(table, 'utf8').catch(() => '')).split('\n').slice(1);
    for (const line of lines) {
      const [, local, , state] = line.trim().split(/\s+/);
      const [address, hexPort] = (local ?? '').split(':');
      if (state === LISTEN && address && parseInt(hexPort ?? '', 16) === port) found.push(procAddress(address));
    }
  }
  return found;
}
