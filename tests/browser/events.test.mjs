// The Events screen against a real webhookd and a real HTTPS receiver: the team's event log newest
// first, filtered by type and by an ingest time range, an event found by id with its data and its
// delivery to each webhook, an unknown id, a delivery opened on its webhook's page, a deep link
// and "Load more" through keyset pages. Every wait is on the app's state.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  clickWidget, grantClipboard, isNetworkNoise, launchBrowser, openConsole, pasteInto, screenshot,
  signIn, startReceiver, startWebhookd, typeInto, uiState, waitForScreen, waitForUi,
} from './lib.mjs';

let receiver;
let server;

before(async () => {
  receiver = await startReceiver({ status: 200 });
  server = await startWebhookd({ caFile: receiver.certPath });
});
after(async () => {
  await server?.stop();
  await receiver?.close();
});

async function withBrowser(body) {
  const browser = await launchBrowser();
  await grantClipboard(browser.context);
  try {
    return await body(browser);
  } finally {
    await browser.close();
  }
}

async function createWebhook(events) {
  const r = await server.api('POST', '/api/v1/webhooks', { url: receiver.url, events });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

// Ingests the type's example (ingest checks data against the type's schema) and returns
// { id, type, data, timestamp, deliveries }. Returns only once the clock has passed the event's
// millisecond, so that the next event is ingested strictly later and time bounds tell them apart.
async function ingest(type) {
  const { example } = (await server.api('GET', `/api/v1/event-types/${type}`)).body;
  const r = await server.api('POST', '/api/v1/events', { type, data: example });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const stored = await server.api('GET', `/api/v1/events/${r.body.id}`);
  assert.equal(stored.status, 200);
  const at = Date.parse(stored.body.timestamp);
  while (Date.now() <= at) await new Promise((ok) => setImmediate(ok));
  return { id: r.body.id, type, data: example, timestamp: stored.body.timestamp,
           deliveries: r.body.deliveries };
}

// Chromium's note on a wheel event: Dear ImGui's Emscripten backend registers its wheel handler on
// the document, which Chromium makes passive, and the handler's preventDefault is then ignored.
const isPassiveWheelNote = (e) => /^Unable to preventDefault inside passive event listener/.test(e);
// Waits until `label` is drawn at the same place in two successive frames and returns that state:
// a popup is placed once its first frame has measured it, and a click at its first rectangle can
// miss.
async function waitForSteady(page, label, afterFrame) {
  let last = null;
  return waitForUi(page, (s) => {
    const r = s.widgets[label];
    if (last && s.frame === last.frame) return false;
    const steady = !!r && !!last?.r && ['x', 'y', 'w', 'h'].every((k) => r[k] === last.r[k]);
    last = { frame: s.frame, r };
    return steady;
  }, { afterFrame });
}

const appErrors = (errors) => errors.filter((e) => !isNetworkNoise(e) && !isPassiveWheelNote(e));
const ids = (state, list = 'events') => (state.lists[list] ?? []).map((r) => r.id);
// The list answered for the filters asked for (not a frame from before the click).
const listReady = (s) => s.screen === 'events' && s.fields.loaded && !s.fields.loading;

// Pastes a time into since or until and presses Enter; returns the state once the list reloaded
// with it.
async function applyBound(page, state, field, value) {
  await pasteInto(page, state, field, value);
  await waitForUi(page, (s, a) => s.fields[`${a.field}_input`] === a.value && s.fields.range_error === null,
                  { arg: { field, value } });
  await page.keyboard.press('Enter');
  return waitForUi(page, (s, a) => listReady(s) && s.fields[a.field] === a.value,
                   { arg: { field, value: value === '' ? null : value } });
}

test('events: newest first, type and time filters, search by id, unknown id, deliveries, open one',
     async () => {
  const hookA = await createWebhook(['device.enroll', 'policy.update']);
  const hookB = await createWebhook(['device.enroll']);
  const enroll = await ingest('device.enroll');  // to both webhooks
  const policy = await ingest('policy.update');  // to A only
  const role = await ingest('role.create');      // no webhook is subscribed
  assert.equal(enroll.deliveries.length, 2);
  assert.equal(policy.deliveries.length, 1);
  assert.equal(role.deliveries.length, 0);

  await withBrowser(async (browser) => {
    const { page, errors } = await openConsole(browser.context, server.url);
    await signIn(page, server.token);
    let state = await waitForScreen(page, 'webhooks', (s) => !!s.widgets.nav_events);

    // The tab opens the log: newest first, with each event's type and time.
    let frame = await clickWidget(page, state, 'nav_events');
    state = await waitForUi(page, (s) => listReady(s) && s.fields.count === 3, { afterFrame: frame });
    assert.equal(state.fields.route, '/events');
    assert.equal(state.fields.more, false);
    assert.equal(state.fields.open_event, null);
    assert.deepEqual(state.lists.events, [role, policy, enroll].map(
      (e) => ({ id: e.id, type: e.type, timestamp: e.timestamp })));
    await screenshot(page, 'console-events.png');

    // Filter by type: only that type's events; "All types" brings the others back.
    frame = await clickWidget(page, state, 'type_filter');
    state = await waitForSteady(page, 'type_option:device.enroll', frame);
    frame = await clickWidget(page, state, 'type_option:device.enroll');
    state = await waitForUi(page, (s) => listReady(s) && s.fields.type_filter === 'device.enroll',
                            { afterFrame: frame });
    assert.deepEqual(ids(state), [enroll.id]);
    frame = await clickWidget(page, state, 'type_filter');
    state = await waitForSteady(page, 'type_option:all', frame);
    frame = await clickWidget(page, state, 'type_option:all');
    state = await waitForUi(page, (s) => listReady(s) && s.fields.type_filter === '' && s.fields.count === 3,
                            { afterFrame: frame });
    assert.deepEqual(ids(state), [role.id, policy.id, enroll.id]);

    // A time that is not RFC 3339 is named as such and not applied.
    await typeInto(page, state, 'since', 'yesterday');
    state = await waitForUi(page, (s) => s.fields.since_input === 'yesterday' &&
                                         /^since must be an RFC 3339 time/.test(s.fields.range_error ?? ''));
    frame = (await uiState(page)).frame;
    await page.keyboard.press('Enter');
    state = await waitForUi(page, (s) => s.fields.range_error !== null, { afterFrame: frame + 1 });
    assert.equal(state.fields.since_input, 'yesterday');
    assert.equal(state.fields.since, null);
    assert.equal(state.fields.list_error, null);
    assert.equal(state.fields.count, 3);

    // Since (at or after) the second event, then until (before) the third: the range narrows.
    state = await applyBound(page, state, 'since', policy.timestamp);
    assert.deepEqual(ids(state), [role.id, policy.id]);
    state = await applyBound(page, state, 'until', role.timestamp);
    assert.deepEqual(ids(state), [policy.id]);
    // Until before since cannot match anything: the screen says so.
    await pasteInto(page, state, 'until', enroll.timestamp);
    state = await waitForUi(page, (s, t) => s.fields.until_input === t &&
                                            /later than since/.test(s.fields.range_error ?? ''),
                            { arg: enroll.timestamp });
    await typeInto(page, state, 'since', '');
    await typeInto(page, state, 'until', '');
    state = await waitForUi(page, (s) => s.fields.since_input === '' && s.fields.until_input === '' &&
                                         s.fields.range_error === null);
    frame = await clickWidget(page, state, 'apply_range');
    state = await waitForUi(page, (s) => listReady(s) && s.fields.since === null && s.fields.until === null,
                            { afterFrame: frame });
    assert.deepEqual(ids(state), [role.id, policy.id, enroll.id]);

    // Find an event by id: it opens (#/events/<id>) with its data and its delivery to each
    // webhook, which settle to succeeded while the screen is open.
    await pasteInto(page, state, 'event_search', enroll.id);
    await waitForUi(page, (s, id) => s.fields.search === id, { arg: enroll.id });
    await page.keyboard.press('Enter');
    state = await waitForUi(page, (s, id) => s.fields.route === `/events/${id}` &&
      s.fields.event?.id === id && (s.lists.event_deliveries ?? []).length === 2 &&
      s.lists.event_deliveries.every((d) => d.status === 'succeeded'), { arg: enroll.id, timeout: 20000 });
    assert.equal(state.fields.event.type, 'device.enroll');
    assert.equal(state.fields.event.timestamp, enroll.timestamp);
    assert.deepEqual(state.fields.event.data, enroll.data);
    const rows = state.lists.event_deliveries;
    assert.deepEqual(rows.map((d) => d.webhook_id).sort(), [hookA, hookB].sort());
    assert.deepEqual(rows.map((d) => d.id).sort(), [...enroll.deliveries].sort());
    for (const d of rows) {
      assert.equal(d.http_status, 200);
      assert.equal(d.attempts, 1);
      assert.equal(d.result, 'Succeeded 200');
    }
    assert.deepEqual(ids(state), [role.id, policy.id, enroll.id]);  // the list stays beside it
    await screenshot(page, 'console-event-detail.png');

    // Copy puts the data on the system clipboard, pretty-printed.
    frame = await clickWidget(page, state, 'copy_data');
    state = await waitForUi(page, (s) => s.fields.notice === 'Event data copied to the clipboard',
                            { afterFrame: frame });
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.deepEqual(JSON.parse(copied), enroll.data);
    assert.match(copied, /\n {2}"/);
    // The notice line moves the page down while it shows: go on once it is gone, so that a
    // rectangle read now is still where it is when clicked.
    state = await waitForUi(page, (s) => s.fields.notice === null);

    // An id no event has: a message where the event would be, not an error page.
    await pasteInto(page, state, 'event_search', 'evt_no_such_event');
    await waitForUi(page, (s) => s.fields.search === 'evt_no_such_event');
    await page.keyboard.press('Enter');
    state = await waitForUi(page, (s) => s.fields.event_missing === 'No event evt_no_such_event');
    assert.equal(state.screen, 'events');
    assert.equal(state.fields.route, '/events/evt_no_such_event');
    assert.equal(state.fields.app_error, null);
    assert.equal(state.fields.event_error, null);
    assert.ok(state.widgets.event_missing);
    assert.deepEqual(ids(state), [role.id, policy.id, enroll.id]);

    // Text that cannot be an id is refused before any request.
    await typeInto(page, state, 'event_search', 'not an id!');
    await waitForUi(page, (s) => s.fields.search === 'not an id!');
    await page.keyboard.press('Enter');
    state = await waitForUi(page, (s) => s.fields.search_error !== null);
    assert.match(state.fields.search_error, /letters, digits/);
    assert.equal(state.fields.route, '/events/evt_no_such_event');

    // A row of the list opens that event; one with no subscriber says so.
    frame = await clickWidget(page, state, `event:${role.id}`);
    state = await waitForUi(page, (s, id) => s.fields.event?.id === id && !s.fields.detail_loading,
                            { afterFrame: frame, arg: role.id });
    assert.equal(state.fields.route, `/events/${role.id}`);
    assert.equal(state.fields.event.deliveries, 0);
    assert.equal(state.lists.event_deliveries, undefined);
    frame = await clickWidget(page, state, `event:${policy.id}`);
    state = await waitForUi(page, (s, id) => s.fields.event?.id === id &&
      (s.lists.event_deliveries ?? []).length === 1, { afterFrame: frame, arg: policy.id });
    assert.equal(state.fields.route, `/events/${policy.id}`);
    const delivery = state.lists.event_deliveries[0];
    assert.equal(delivery.webhook_id, hookA);
    assert.equal(delivery.id, policy.deliveries[0]);

    // A delivery row opens that delivery on its webhook's page.
    await page.evaluate(() => {
      globalThis.eventsTestHashes = [];
      addEventListener('hashchange', (e) => globalThis.eventsTestHashes.push(new URL(e.newURL).hash));
    });
    frame = await clickWidget(page, state, `event_delivery:${delivery.id}`);
    state = await waitForUi(page, (s) => s.screen !== 'events', { afterFrame: frame });
    const hashes = await page.evaluate(() => globalThis.eventsTestHashes);
    assert.equal(hashes[0], `#/webhooks/${hookA}/deliveries/${delivery.id}`);
    // That is the webhook's details, with the delivery in the inspector.
    state = await waitForScreen(page, 'details', (s, id) => s.fields.delivery?.id === id,
                                { arg: delivery.id });
    assert.equal(state.fields.webhook_id, hookA);

    // Back returns to the event, its list read again.
    frame = (await uiState(page)).frame;
    await page.goBack();
    state = await waitForScreen(page, 'events', (s, id) => s.fields.event?.id === id && s.fields.loaded,
                                { afterFrame: frame, arg: policy.id });
    assert.equal(state.fields.route, `/events/${policy.id}`);
    assert.deepEqual(ids(state), [role.id, policy.id, enroll.id]);
    assert.deepEqual(appErrors(errors), []);
  });
});

test('events: a deep link opens after sign-in; Load more reads the next page', async () => {
  // More events than one page (50), of a type no webhook takes.
  for (let i = 0; i < 55; ++i) {
    const { example } = (await server.api('GET', '/api/v1/event-types/team.update')).body;
    const r = await server.api('POST', '/api/v1/events', { type: 'team.update', data: example });
    assert.equal(r.status, 202);
  }
  const all = await server.api('GET', '/api/v1/events?limit=200');
  assert.equal(all.body.next_cursor, null);
  const expected = all.body.data.map((e) => e.id);
  assert.ok(expected.length > 50 && expected.length <= 100);
  const newest = expected[0];

  await withBrowser(async (browser) => {
    const { page, errors } = await openConsole(browser.context, `${server.url}#/events/${newest}`);
    await signIn(page, server.token);
    let state = await waitForScreen(page, 'events', (s, id) => s.fields.event?.id === id && s.fields.loaded &&
                                    !s.fields.loading, { arg: newest });
    assert.equal(state.fields.route, `/events/${newest}`);
    assert.equal(state.fields.event.type, 'team.update');
    assert.equal(state.fields.count, 50);
    assert.equal(state.fields.more, true);
    assert.deepEqual(ids(state), expected.slice(0, ids(state).length));

    let frame = await clickWidget(page, state, 'load_more');
    state = await waitForUi(page, (s, n) => listReady(s) && s.fields.count === n,
                            { afterFrame: frame, arg: expected.length });
    assert.equal(state.fields.more, false);
    assert.equal(state.widgets.load_more, undefined);

    // Scroll to the end of the list: the oldest event is last.
    const table = state.widgets[`event:${newest}`];
    await page.mouse.move(table.x + table.w / 2, table.y + table.h / 2);
    const oldest = expected[expected.length - 1];
    for (let i = 0; i < 40 && !ids(state).includes(oldest); ++i) {
      frame = (await uiState(page)).frame;
      await page.mouse.wheel(0, 600);
      state = await waitForUi(page, () => true, { afterFrame: frame + 1 });
    }
    const shown = ids(state);
    assert.equal(shown[shown.length - 1], oldest);
    const from = expected.indexOf(shown[0]);
    assert.deepEqual(shown, expected.slice(from, from + shown.length));
    assert.deepEqual(appErrors(errors), []);
  });
});
