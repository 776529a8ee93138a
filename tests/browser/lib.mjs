// Helpers for browser tests of the console: a static server for the built web root, a real
// webhookd (port 0, temporary data dir, token from its CLI) serving the console, an HTTPS receiver
// with a certificate made at test time, Debian's headless Chromium through playwright-core,
// polling of the app's ui_state_json() and user-like input at the widget rectangles it reports.
// No sleeps: every wait is on app state.

import { execFileSync, spawn } from 'node:child_process';
import {
  createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const webRoot = resolve(process.env.MAMBO_WEB_ROOT ?? join(repoRoot, 'build-web', 'web'));
// Screenshots go next to the web root's build folder (build-web/screenshots by default).
export const screenshotDir = resolve(
  process.env.MAMBO_SCREENSHOT_DIR ?? join(webRoot, '..', 'screenshots'));

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

// Serves `root` on 127.0.0.1 at an ephemeral port. Returns { url, close() }.
export async function startStaticServer(root = webRoot) {
  if (!existsSync(join(root, 'index.html'))) {
    throw new Error(`no index.html in ${root}: build the console (make -C build-web console) ` +
                    'or point MAMBO_WEB_ROOT at a built web root');
  }
  const server = createServer((req, res) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (path.endsWith('/')) path += 'index.html';
    const file = resolve(root, '.' + path);
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    let st;
    try {
      st = statSync(file);
    } catch {
      st = null;
    }
    if (!st || !st.isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, {
      'Content-Type': MIME[extname(file)] ?? 'application/octet-stream',
      'Content-Length': st.size,
      'Cache-Control': 'no-store',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file).pipe(res);
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }),
  };
}

// The flags that reliably give WebGL2 in Debian's headless chromium (found by trial here:
// --use-angle=swiftshader, not --use-gl=swiftshader, which has no WebGL2; the network flags keep
// chromium from calling out of this closed network), minus --user-data-dir, which playwright
// takes as launchPersistentContext's first argument.
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
];

// Launches Debian's chromium with a fresh temporary profile (--user-data-dir) and the given
// viewport. Returns { context, close() }; close() also deletes the profile.
export async function launchBrowser({ width = 1280, height = 960, deviceScaleFactor = 1 } = {}) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'mambo-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.MAMBO_CHROMIUM ?? '/usr/bin/chromium',
      headless: true,
      args: chromiumArgs,
      viewport: { width, height },
      deviceScaleFactor,
    });
  } catch (e) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw e;
  }
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

// Opens the console in a page of `context`. Page errors and console errors are collected in
// `errors` so a test can assert the page ran clean.
export async function openConsole(context, url) {
  const page = context.pages()[0] ?? await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url);
  return { page, errors };
}

// The app's current UI state (parsed ui_state_json()), or null before the runtime is up.
export async function uiState(page) {
  const text = await page.evaluate(() => {
    const M = globalThis.Module;
    if (!M || !M.calledRun || typeof M.ccall !== 'function') return null;
    return M.ccall('ui_state_json', 'string', [], []);
  });
  return text === null ? null : JSON.parse(text);
}

// Reads ui_state_json() once per animation frame until `predicate(state, arg)` holds for a frame
// drawn after `afterFrame` (so the state reflects input sent before the call), then returns that
// state. The predicate runs here in node: the page's Content-Security-Policy (no eval, no
// new Function) is the one webhookd serves, and a test must not need it loosened.
export async function waitForUi(page, predicate, { afterFrame = 0, arg = null, timeout = 30000 } = {}) {
  const deadline = Date.now() + timeout;
  let last = null;
  for (;;) {
    const text = await page.evaluate(
      () =>
        new Promise((resolve) =>
          requestAnimationFrame(() => {
            const M = globalThis.Module;
            if (!M || !M.calledRun || typeof M.ccall !== 'function') return resolve(null);
            resolve(M.ccall('ui_state_json', 'string', [], []));
          }),
        ),
    );
    if (text !== null) {
      last = JSON.parse(text);
      if (last.frame > afterFrame && predicate(last, arg)) return last;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `waitForUi: timed out after ${timeout} ms waiting for ${predicate}; last state: ` +
          JSON.stringify(last && { screen: last.screen, frame: last.frame, error: last.error }),
      );
    }
  }
}

// Rectangle (CSS pixels) of a widget from the state, or throws naming the widgets present.
export function widget(state, label) {
  const r = state.widgets[label];
  if (!r) throw new Error(`widget "${label}" not drawn; have: ${Object.keys(state.widgets).join(', ')}`);
  return r;
}

// Moves the mouse to the middle of a widget (or `at` = {dx, dy} offset from its top-left) and
// clicks it like a user: returns the frame number just before the click.
export async function clickWidget(page, state, label, at) {
  const r = widget(state, label);
  const x = r.x + (at ? at.dx : r.w / 2);
  const y = r.y + (at ? at.dy : r.h / 2);
  const before = (await uiState(page)).frame;
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.up();
  return before;
}

export async function hoverWidget(page, state, label) {
  const r = widget(state, label);
  const before = (await uiState(page)).frame;
  await page.mouse.move(r.x + Math.min(r.w / 2, 40), r.y + r.h / 2);
  return before;
}

export async function screenshot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, name);
  await page.screenshot({ path });
  return path;
}

// ---- A real webhookd and a real HTTPS receiver -------------------------------------------------

export const buildDir = resolve(process.env.MAMBO_BUILD_DIR ?? join(repoRoot, 'build'));
export const webhookdPath = join(buildDir, 'backend', 'webhookd');

// A self-signed certificate for 127.0.0.1 made now with the openssl CLI (never committed).
export function makeCertificate(dir) {
  const cert = join(dir, 'receiver-cert.pem');
  const key = join(dir, 'receiver-key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
    '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  return { cert, key };
}

// An HTTPS receiver on 127.0.0.1 answering `status` to every POST (or `status(request)`, the
// request as recorded, for one that answers each its own way); it records what it got.
// Returns { url, certPath, requests, close() }.
export async function startReceiver({ status = 200, body = '{"ok":true}' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mambo-receiver-'));
  const { cert, key } = makeCertificate(dir);
  const requests = [];
  const server = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const request = { method: req.method, url: req.url, headers: req.headers,
                        body: Buffer.concat(chunks).toString('utf8') };
      requests.push(request);
      const code = typeof status === 'function' ? status(request) : status;
      res.writeHead(code, { 'Content-Type': 'application/json' }).end(body);
    });
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address();
  return {
    url: `https://127.0.0.1:${port}/hooks`,
    port,
    certPath: cert,
    requests,
    close: async () => {
      await new Promise((ok) => { server.closeAllConnections(); server.close(ok); });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Starts `webhookd serve` on 127.0.0.1:0 with a fresh data dir, serving the console from the web
// root, and makes an admin token with the CLI. Returns { url, token, dataDir, api(), kill(),
// stop() }. api(method, path, body, token?) calls the REST API from node: { status, body }.
// Pass `dataDir` (and `port`) to start again on an earlier server's data (a restart).
export async function startWebhookd({
  caFile, root = webRoot, team = 'acme', args = [], dataDir: reuseDir, port = 0,
} = {}) {
  if (!existsSync(webhookdPath)) {
    throw new Error(`no webhookd at ${webhookdPath}: build it (ninja -C build webhookd) or set ` +
                    'MAMBO_BUILD_DIR');
  }
  if (!existsSync(join(root, 'index.html'))) {
    throw new Error(`no index.html in ${root}: build the console or set MAMBO_WEB_ROOT`);
  }
  const dataDir = reuseDir ?? mkdtempSync(join(tmpdir(), 'mambo-webhookd-'));
  const token = execFileSync(webhookdPath, ['token', 'create', '--team', team, '--role', 'admin',
    '--data-dir', dataDir], { encoding: 'utf8' }).trim().split('\n').pop().trim();
  const serveArgs = ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--web-root', root,
    '--allow-private-targets', '127.0.0.1/32', '--log-level', 'warn', ...args];
  if (caFile) serveArgs.push('--ca-file', caFile);
  const proc = spawn(webhookdPath, serveArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const url = await new Promise((ok, fail) => {
    let out = '';
    const onData = (d) => {
      out += d;
      const m = out.match(/webhookd listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        proc.stdout.off('data', onData);
        ok(m[1] + '/');
      }
    };
    proc.stdout.on('data', onData);
    proc.once('exit', (code) => fail(new Error(`webhookd exited (${code}) before listening:\n${stderr}`)));
  });
  const exited = new Promise((ok) => proc.once('exit', ok));
  const api = async (method, path, body, bearer = token) => {
    const res = await fetch(new URL(path, url), {
      method,
      headers: { Authorization: `Bearer ${bearer}`,
                 ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  let stopped = false;
  return {
    url,
    token,
    dataDir,
    api,
    stderr: () => stderr,
    kill: async () => {  // abrupt: the server goes away (SIGKILL)
      if (!stopped) { stopped = true; proc.kill('SIGKILL'); }
      await exited;
    },
    stop: async () => {
      if (!stopped) { stopped = true; proc.kill('SIGTERM'); }
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// Clicks into a text field and types like a user (select-all + retype when it has text).
export async function typeInto(page, state, label, text, { replace = true } = {}) {
  const frame = await clickWidget(page, state, label);
  await waitForUi(page, (s) => s.text_input_active, { afterFrame: frame });
  if (replace) {
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');
  }
  await page.keyboard.type(text);
}

// Pastes `text` into a text field through the system clipboard (Ctrl+A, Ctrl+V), as a user
// pastes a token. The browser context needs the clipboard permissions (grantClipboard).
export async function pasteInto(page, state, label, text) {
  await page.evaluate((t) => navigator.clipboard.writeText(t), text);
  const frame = await clickWidget(page, state, label);
  await waitForUi(page, (s) => s.text_input_active, { afterFrame: frame });
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Control+V');
}

export async function grantClipboard(context) {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
}

// Waits until the console shows `screen` (and `extra(state, arg)` holds, when given).
// Signs in on the sign-in screen with `token` as a user would (pasted, then Enter) and returns the
// state once signed in with the token's role known.
export async function signIn(page, token) {
  const state = await waitForScreen(page, 'sign_in', (s) => !!s.widgets.token);
  await pasteInto(page, state, 'token', token);
  await waitForUi(page, (s, n) => s.fields.token_length === n, { arg: token.length });
  await page.keyboard.press('Enter');
  return waitForUi(page, (s) => s.fields.signed_in && !!s.fields.role);
}

export async function waitForScreen(page, screen, extra, { arg = null, afterFrame = 0, timeout } = {}) {
  const source = extra ? extra.toString() : '() => true';
  return waitForUi(page, (s, a) => s.screen === a.screen &&
    new Function('state', 'arg', `return (${a.source})(state, arg);`)(s, a.arg),
  { arg: { screen, source, arg }, afterFrame, timeout });
}

// Browser noise that is not an app error: failed loads while a test stops the server on purpose.
export const isNetworkNoise = (e) => /Failed to load resource|ERR_CONNECTION_REFUSED|net::ERR_/.test(e);
