import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installDebianPackages, runCommand } from './system-packages.ts';

export interface BrowserPage {
  /** Evaluates an expression in the page, awaiting a promise, and returns its value as JSON. */
  evaluate<T>(expression: string): Promise<T>;
  close(): Promise<void>;
}

function chromiumPath(): string {
  if (runCommand('which', ['chromium']).status !== 0)
    installDebianPackages(['chromium'], 'The browser tests need Chromium (Debian package chromium)');
  return '/usr/bin/chromium';
}

/**
 * Headless Chromium on a page at `url`, driven over the DevTools protocol (a WebSocket; no
 * puppeteer). Installs Chromium with apt-get when missing; fails, never skips, when it cannot.
 */
export async function openChromium(url: string): Promise<BrowserPage> {
  const profile = mkdtempSync(join(tmpdir(), 'indicia-chromium-'));
  const child: ChildProcess = spawn(
    chromiumPath(),
    [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--no-default-browser-check',
      '--remote-debugging-port=0',
      `--user-data-dir=${profile}`,
      url,
    ],
    { stdio: 'ignore' },
  );
  const portFile = join(profile, 'DevToolsActivePort');
  const deadline = Date.now() + 30_000;
  while (!existsSync(portFile) || readFileSync(portFile, 'utf8').split('\n').length < 2) {
    if (child.exitCode !== null) throw new Error(`Chromium exited with status ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('Chromium did not open its DevTools port within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const port = readFileSync(portFile, 'utf8').split('\n')[0];
  let page: { webSocketDebuggerUrl: string } | undefined;
  while (page === undefined) {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
      type: string;
      url: string;
      webSocketDebuggerUrl: string;
    }[];
    page = targets.find((target) => target.type === 'page' && target.url.startsWith(url));
    if (page === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const socket = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve, { once: true });
    socket.addEventListener('error', reject, { once: true });
  });
  let nextId = 1;
  const pending = new Map<number, (message: Record<string, unknown>) => void>();
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as Record<string, unknown>;
    if (typeof message['id'] === 'number') pending.get(message['id'])?.(message);
  });
  const send = (method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  const evaluate = async <T>(expression: string): Promise<T> => {
    const answer = (await send('Runtime.evaluate', {
      expression,
      awaitPromise: true,
      returnByValue: true,
    })) as {
      result?: {
        result?: { value?: unknown };
        exceptionDetails?: { exception?: { description?: string }; text?: string };
      };
      error?: { message: string };
    };
    if (answer.error !== undefined) throw new Error(answer.error.message);
    const details = answer.result?.exceptionDetails;
    if (details !== undefined)
      throw new Error(details.exception?.description ?? details.text ?? 'page error');
    return answer.result?.result?.value as T;
  };
  // The target exists before its page has loaded: wait for the page itself, at its own address.
  const isLoaded = (): Promise<boolean> =>
    evaluate<boolean>(
      `location.href.startsWith(${JSON.stringify(url)}) && document.readyState === 'complete'`,
    );
  for (let tries = 0; !(await isLoaded()); tries += 1) {
    if (tries > 400) throw new Error(`Chromium did not load ${url} within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    evaluate,
    async close() {
      socket.close();
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
