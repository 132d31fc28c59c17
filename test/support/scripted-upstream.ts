/**
 * A scripted HTTP server standing in for a misbehaving FHIR server: the real engine does not
 * refuse, hang, reset or answer garbage on demand. Each test sets `behave` to what the upstream
 * should do with the next requests; every request that reaches it is counted.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Behaviour = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface ScriptedUpstream {
  /** FHIR base URL, e.g. http://127.0.0.1:PORT/fhir */
  readonly url: string;
  /** Requests received so far. */
  hits(): number;
  behave: Behaviour;
  /** Stops listening: connections are refused until `restart()`. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startScriptedUpstream(initial: Behaviour = answer(200, {}, '')): Promise<ScriptedUpstream> {
  let hits = 0;
  const sockets = new Set<Socket>();
  const upstream: ScriptedUpstream = {
    url: '',
    hits: () => hits,
    behave: initial,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        if (!server.listening) resolve();
        else server.close(() => resolve());
      }),
    restart: () => new Promise<void>((r) => server.listen(port, '127.0.0.1', r)),
    close: () => upstream.stop(),
  };
  const server = http.createServer((req, res) => {
    hits++;
    req.resume();
    upstream.behave(req, res);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  (upstream as { url: string }).url = `http://127.0.0.1:${port}/fhir`;
  return upstream;
}

/** A complete answer. */
export function answer(status: number, headers: Record<string, string>, body: string | Buffer): Behaviour {
  return (_req, res) => {
    res.writeHead(status, headers);
    res.end(body);
  };
}

/** Never answers (the connection stays open). */
export const hang: Behaviour = () => {};

/** Closes the connection without answering. */
export const hangUp: Behaviour = (req) => req.socket.destroy();

/** Sends the status line, headers and part of the body, then resets the connection. */
export function resetMidBody(headers: Record<string, string>, partial: string): Behaviour {
  return (req, res) => {
    res.writeHead(200, headers);
    res.write(partial, () => setTimeout(() => req.socket.destroy(), 20));
  };
}

/** Sends headers at once, then one byte of the body every `everyMs`, never finishing. */
export function drip(headers: Record<string, string>, everyMs: number): Behaviour {
  return (req, res) => {
    res.writeHead(200, headers);
    const timer = setInterval(() => res.write(' '), everyMs);
    req.socket.on('close', () => clearInterval(timer));
  };
}
