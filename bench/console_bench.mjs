#!/usr/bin/env node
// Console benchmark: prints
//   1. index.wasm + index.js size, raw and gzip (budget: <= 1.5 MB raw, <= 600 KB gzip);
//   2. time to first frame in headless Chromium on localhost, served by a real webhookd
//      (navigation start -> first frame drawn; cold: a new browser profile each run; budget 1 s);
//   3. frame time while scrolling a delivery history of 10,000 rows (budget: >= 30 fps in the
//      software renderer). The deliveries are seeded through the ingest API against a webhook
//      whose receiver does not answer (they stay pending/failed: enough to scroll).
// Usage: MAMBO_WEB_ROOT=build-web/web MAMBO_BUILD_DIR=build node bench/console_bench.mjs
//        [--deliveries N] [--runs N] [--frames N]

import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import {
  launchBrowser, startWebhookd, uiState, waitForUi, webRoot,
} from '../tests/browser/lib.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const DELIVERIES = arg('deliveries', 10000);
const RUNS = arg('runs', 3);
const FRAMES = arg('frames', 240);
const VIEWPORT = { width: 1280, height: 800 };

const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

// 1. Sizes.
const sizes = {};
for (const f of ['index.wasm', 'index.js', 'index.html']) {
  const data = readFileSync(join(webRoot, f));
  sizes[f] = { raw: data.length, gzip: gzipSync(data, { level: 9 }).length };
}
const raw = sizes['index.wasm'].raw + sizes['index.js'].raw;
const gz = sizes['index.wasm'].gzip + sizes['index.js'].gzip;
console.log('== size (web root %s); machine load average %s', webRoot, loadavg().map((l) => l.toFixed(1)).join(' '));
for (const [f, s] of Object.entries(sizes)) console.log(`  ${f.padEnd(11)} raw ${kb(s.raw).padStart(10)}   gzip ${kb(s.gzip).padStart(10)}`);
console.log(`  wasm+js     raw ${kb(raw).padStart(10)}   gzip ${kb(gz).padStart(10)}   (budget 1536 KiB / 600 KiB: ${raw <= 1536 * 1024 && gz <= 600 * 1024 ? 'OK' : 'OVER'})`);

const server = await startWebhookd({ args: ['--workers', '4'] });
try {
  // 2. Time to first frame: navigation start -> the first frame the console drew (ui state frame 1).
  console.log('== time to first frame (headless chromium, localhost, %dx%d)', VIEWPORT.width, VIEWPORT.height);
  const firsts = [];
  for (let run = 0; run < RUNS; ++run) {
    const browser = await launchBrowser(VIEWPORT);
    try {
      const page = browser.context.pages()[0] ?? await browser.context.newPage();
      // Polled on every animation frame from the first script on, so the time is not late by a poll.
      await page.addInitScript(() => {
        const poll = () => {
          const M = globalThis.Module;
          if (M && M.calledRun && typeof M.ccall === 'function' &&
              JSON.parse(M.ccall('ui_state_json', 'string', [], [])).frame >= 1) {
            globalThis.__firstFrameMs = performance.now();
            return;
          }
          requestAnimationFrame(poll);
        };
        requestAnimationFrame(poll);
      });
      await page.goto(server.url);
      const t = await page.waitForFunction(() => globalThis.__firstFrameMs, null, { polling: 'raf' });
      const ms = await t.jsonValue();
      const nav = await page.evaluate(() => {
        const e = performance.getEntriesByType('navigation')[0];
        return { dcl: e.domContentLoadedEventEnd, load: e.loadEventEnd };
      });
      firsts.push(ms);
      console.log(`  run ${run + 1}: first frame ${ms.toFixed(0)} ms (DOMContentLoaded ${nav.dcl.toFixed(0)} ms, load ${nav.load.toFixed(0)} ms)`);
    } finally {
      await browser.close();
    }
  }
  console.log(`  median ${median(firsts).toFixed(0)} ms (budget 1000 ms: ${median(firsts) <= 1000 ? 'OK' : 'OVER'})`);

  // 3. Seed DELIVERIES deliveries to one webhook whose receiver refuses connections.
  console.log('== scrolling %d deliveries', DELIVERIES);
  const created = await server.api('POST', '/api/v1/webhooks', {
    url: 'https://127.0.0.1:9/never', events: ['device.update'], description: 'bench',
  });
  if (created.status !== 201) throw new Error(`create webhook: ${JSON.stringify(created)}`);
  const id = created.body.id;
  // Ingest checks data against the type's schema: the type's example, a distinct name each.
  const { example } = (await server.api('GET', '/api/v1/event-types/device.update')).body;
  const t0 = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < DELIVERIES) {
      const i = next++;
      const r = await server.api('POST', '/api/v1/events', {
        type: 'device.update', data: { ...example, device: { ...example.device, name: `bench-${i}` } } });
      if (r.status !== 202) throw new Error(`ingest: ${JSON.stringify(r)}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  console.log(`  seeded ${DELIVERIES} events in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const browser = await launchBrowser(VIEWPORT);
  try {
    const page = browser.context.pages()[0] ?? await browser.context.newPage();
    await page.addInitScript((token) => sessionStorage.setItem('mambo.console.token', token), server.token);
    await page.goto(`${server.url}#/webhooks/${id}`);
    let state = await waitForUi(page, (s) => s.screen === 'details' && s.fields.deliveries_loaded > 0 &&
                                             !s.fields.history_loading, { timeout: 60000 });
    // Load every page first (as a user who scrolls to the end would), so the measurement is of
    // drawing, not of the network: drag to the end until all rows are there.
    const t1 = Date.now();
    const table = state.widgets[`delivery:${state.lists.deliveries[0].id}`];
    const x = table.x + table.w / 2;
    const y = table.y + 100;
    await page.mouse.move(x, y);
    while (state.fields.deliveries_more || state.fields.deliveries_loaded < DELIVERIES) {
      await page.mouse.wheel(0, 100000);
      state = await waitForUi(page, (s, n) => !s.fields.history_loading && (s.fields.deliveries_loaded > n || !s.fields.deliveries_more),
                              { arg: state.fields.deliveries_loaded, timeout: 60000 });
    }
    console.log(`  loaded ${state.fields.deliveries_loaded} rows in ${((Date.now() - t1) / 1000).toFixed(1)} s (pages of 200)`);
    await page.mouse.wheel(0, -1e7);
    await waitForUi(page, (s) => s.fields.deliveries_first_visible === 0);
    // Turn off live refresh so only scrolling draws frames.
    state = await uiState(page);
    const live = state.widgets.live;
    await page.mouse.click(live.x + 8, live.y + live.h / 2);
    await waitForUi(page, (s) => s.fields.live === false);
    await page.mouse.move(x, y);

    // One wheel step (deltaY 100 px) per animation frame, FRAMES frames; rAF intervals and the
    // app's own CPU time per drawn frame are recorded in the page.
    const result = await page.evaluate(async ({ frames, x, y }) => {
      const canvas = document.getElementById('canvas');
      const cpu = [];
      const stamps = [];
      await new Promise((done) => {
        const step = (t) => {
          stamps.push(t);
          cpu.push(Module.ccall('console_frame_cpu_ms', 'number', [], []));
          if (stamps.length > frames) return done();
          canvas.dispatchEvent(new WheelEvent('wheel', {
            deltaY: 100, deltaMode: 0, clientX: x, clientY: y, bubbles: true, cancelable: true,
          }));
          requestAnimationFrame(step);
        };
        requestAnimationFrame(step);
      });
      const state = JSON.parse(Module.ccall('ui_state_json', 'string', [], []));
      return { stamps, cpu, first: state.fields.deliveries_first_visible };
    }, { frames: FRAMES, x, y });
    const dt = result.stamps.slice(1).map((t, i) => t - result.stamps[i]);
    const mean = dt.reduce((a, b) => a + b, 0) / dt.length;
    const cpuMean = result.cpu.slice(1).reduce((a, b) => a + b, 0) / (result.cpu.length - 1);
    console.log(`  ${dt.length} frames scrolling, one wheel step per frame (${(result.first / dt.length).toFixed(1)} rows per frame), ended at row ${result.first}`);
    console.log(`  frame time mean ${mean.toFixed(1)} ms (${(1000 / mean).toFixed(1)} fps), median ${median(dt).toFixed(1)} ms, p95 ${pct(dt, 0.95).toFixed(1)} ms, max ${Math.max(...dt).toFixed(1)} ms`);
    console.log(`  console CPU per frame (input to GL submit) mean ${cpuMean.toFixed(2)} ms`);
    console.log(`  budget >= 30 fps: ${1000 / mean >= 30 ? 'OK' : 'UNDER'} (load average now ${loadavg()[0].toFixed(1)})`);
  } finally {
    await browser.close();
  }
} finally {
  await server.stop();
}
