// Statistics in the console against a real webhookd and a real HTTPS receiver: the list shows each
// webhook's last 24 hours from its own answer (no request per webhook), and the details page draws
// success-rate and latency charts whose bars show their hour's figures on hover and filter the
// delivery history to that hour on click. Every wait is on the app's state.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  clickWidget, grantClipboard, isNetworkNoise, launchBrowser, openConsole, pasteInto, screenshot,
  signIn, startReceiver, startWebhookd, uiState, waitForScreen, waitForUi, widget,
} from './lib.mjs';

let receiver;
let server;

before(async () => {
  // Events whose id starts with "bad" fail.
  receiver = await startReceiver({
    status: (req) => (req.headers['webhook-id'].startsWith('bad') ? 500 : 200),
  });
  server = await startWebhookd({ caFile: receiver.certPath });
});
after(async () => {
  await server?.stop();
  await receiver?.close();
});

// The point over bucket `i` of `n` of a chart.
function barAt(state, chart, i, n) {
  const r = widget(state, chart);
  return { x: r.x + (r.w * (i + 0.5)) / n, y: r.y + r.h / 2 };
}

const appErrors = (errors) => errors.filter((e) => !isNetworkNoise(e));
const sum = (buckets, field) => buckets.reduce((n, b) => n + b[field], 0);

test('stats: list figures in one request, charts with hover and click-to-filter by hour', async () => {
  const created = await server.api('POST', '/api/v1/webhooks',
                                   { url: receiver.url, events: ['device.enroll'] });
  assert.equal(created.status, 201);
  const webhookId = created.body.id;
  const { example } = (await server.api('GET', '/api/v1/event-types/device.enroll')).body;
  const deliveries = {};
  for (const id of ['ok-0', 'ok-1', 'ok-2', 'ok-3', 'bad-0', 'bad-1']) {
    const r = await server.api('POST', '/api/v1/events', { type: 'device.enroll', data: example, id });
    assert.equal(r.status, 202);
    deliveries[id] = r.body.deliveries[0];
  }
  // Each tried once; the failed ones are cancelled so that no retry changes the figures.
  for (const [id, d] of Object.entries(deliveries)) {
    for (;;) {
      const got = (await server.api('GET', `/api/v1/deliveries/${d}`)).body;
      if (got.attempt_count >= 1 && got.status !== 'in_flight') break;
      await new Promise((ok) => setImmediate(ok));
    }
    if (id.startsWith('bad')) {
      assert.equal((await server.api('POST', `/api/v1/deliveries/${d}/cancel`)).status, 200);
    }
  }
  const stats = (await server.api('GET', `/api/v1/webhooks/${webhookId}/stats`)).body;
  assert.equal(stats.totals.succeeded, 4);
  assert.equal(stats.totals.failed, 2);

  const browser = await launchBrowser();
  await grantClipboard(browser.context);
  try {
    const { page, errors } = await openConsole(browser.context, server.url);
    const requests = [];
    page.on('request', (r) => requests.push(new URL(r.url()).pathname));
    await signIn(page, server.token);

    // The list: the figures come with the list itself.
    let state = await waitForScreen(page, 'webhooks', (s, id) => (s.lists.webhooks ?? []).some(
      (w) => w.id === id && w.attempts_24h), { arg: webhookId });
    const row = state.lists.webhooks.find((w) => w.id === webhookId);
    assert.deepEqual(row.attempts_24h, { succeeded: 4, failed: 2, p50_ms: stats.totals.p50_ms,
                                         p95_ms: stats.totals.p95_ms });
    assert.ok(Math.abs(row.success_rate_24h - 400 / 6) < 0.01, String(row.success_rate_24h));
    assert.equal(row.last_delivery.status, 'cancelled', 'the newest delivery, bad-1');
    let frame = await clickWidget(page, state, 'refresh');
    state = await waitForScreen(page, 'webhooks', (s) => !s.fields.loading && s.fields.count === 1,
                                { afterFrame: frame });
    assert.deepEqual(requests.filter((p) => p.includes('/deliveries') || p.includes('/stats')), [],
                     'no request per webhook');
    assert.equal(requests.filter((p) => p === '/api/v1/webhooks').length, 2, 'one a load');
    await screenshot(page, 'stats-list.png');

    // The details page: 24 hourly buckets with the same figures.
    frame = await clickWidget(page, state, `row:${webhookId}`);
    state = await waitForScreen(page, 'details', (s) => s.fields.stats_loaded &&
      (s.lists.stats ?? []).length === 24 && s.fields.history_loaded, { afterFrame: frame });
    assert.deepEqual(state.lists.stats, stats.buckets.map(
      ({ start, succeeded, failed, p50_ms, p95_ms }) => ({ start, succeeded, failed, p50_ms, p95_ms })));
    assert.equal(sum(state.lists.stats, 'succeeded'), 4);
    assert.equal(state.fields.stats_totals.failed, 2);
    const busy = state.lists.stats.findLastIndex((b) => b.succeeded + b.failed > 0);
    assert.ok(busy >= 22, 'the attempts are in the last hour or the one before');
    const hour = state.lists.stats[busy];

    // Hover: the bucket's figures.
    for (const chart of ['success_chart', 'latency_chart']) {
      const at = barAt(state, chart, busy, 24);
      frame = (await uiState(page)).frame;
      await page.mouse.move(at.x, at.y);
      state = await waitForUi(page, (s, start) => s.fields.chart_hover?.start === start,
                              { afterFrame: frame, arg: hour.start });
      assert.deepEqual(state.fields.chart_hover, hour, chart);
    }
    await screenshot(page, 'stats-charts-hover.png');

    // Click: the history shows the deliveries attempted in that hour, as the API filters them.
    const until = new Date(Date.parse(hour.start) + 3600e3).toISOString();
    const expected = (await server.api('GET', `/api/v1/webhooks/${webhookId}/deliveries?` +
      `attempted_since=${hour.start}&attempted_until=${until}`)).body.data.map((d) => d.id).sort();
    assert.equal(expected.length, hour.succeeded + hour.failed);
    await page.mouse.down();
    await page.mouse.up();
    state = await waitForUi(page, (s, start) => s.fields.hour_filter === start && s.fields.history_loaded &&
      !s.fields.history_loading, { afterFrame: frame, arg: hour.start });
    assert.deepEqual(state.lists.deliveries.map((d) => d.id).sort(), expected);
    assert.ok(state.widgets.clear_hour);

    // An hour without attempts: nothing in it.
    const quiet = 0;
    assert.equal(state.lists.stats[quiet].succeeded + state.lists.stats[quiet].failed, 0);
    const q = barAt(state, 'success_chart', quiet, 24);
    frame = (await uiState(page)).frame;
    await page.mouse.click(q.x, q.y);
    state = await waitForUi(page, (s, start) => s.fields.hour_filter === start && s.fields.history_loaded &&
      !s.fields.history_loading, { afterFrame: frame, arg: state.lists.stats[quiet].start });
    assert.equal((state.lists.deliveries ?? []).length, 0);

    // All hours again.
    frame = await clickWidget(page, state, 'clear_hour');
    state = await waitForUi(page, (s) => s.fields.hour_filter === null && s.fields.history_loaded &&
      (s.lists.deliveries ?? []).length === 6, { afterFrame: frame });

    // Seven days: 168 hourly buckets, the same totals.
    frame = await clickWidget(page, state, 'stats_7d');
    state = await waitForUi(page, (s) => s.fields.stats_window === '7d' && s.fields.stats_loaded &&
      (s.lists.stats ?? []).length === 168, { afterFrame: frame });
    assert.equal(state.fields.stats_totals.succeeded, 4);
    assert.equal(state.fields.stats_totals.failed, 2);
    await screenshot(page, 'stats-charts-7d.png');
    assert.deepEqual(appErrors(errors), []);
  } finally {
    await browser.close();
  }
});
