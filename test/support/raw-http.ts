/**
 * HTTP/1.1 on a bare TCP socket: bytes exactly as written (no client library would send a smuggling
 * shape, a bare LF or a duplicate Host), and every response that comes back on the connection,
 * parsed without any leniency of our own.
 */
import net from 'node:net';

export interface RawResponse {
  readonly status: number;
  /** Lower-case names; a repeated header keeps its last value. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface RawExchange {
  readonly responses: RawResponse[];
  /** Whether the gateway closed the connection (within the wait). */
  readonly closed: boolean;
  /** Everything received, for assertions on what must not appear anywhere. */
  readonly raw: string;
}

/**
 * Sends `bytes` and collects what comes back until the server closes the connection or nothing
 * more arrives for `quietMs`.
 */
export function rawExchange(origin: string, bytes: string | Buffer, quietMs = 500): Promise<RawExchange> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks).toString('latin1');
      resolve({ responses: parseResponses(raw), closed, raw });
    };
    const quiet = (): void => {
      clearTimeout(timer);
      timer = setTimeout(finish, quietMs);
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      quiet();
    });
    socket.on('end', () => {
      closed = true;
      finish();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after the answer still counts as closed; before any answer it is a failure.
      if (chunks.length > 0 || err.code === 'ECONNRESET') {
        closed = true;
        finish();
      } else reject(err);
    });
    socket.write(bytes);
    quiet();
  });
}

function parseResponses(raw: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = raw;
  while (rest.startsWith('HTTP/1.')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    out.push({ status: Number(statusLine!.split(' ')[1]), headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}
