// The catalog's event detail (#/catalog, no sign-in): selecting an event shows its example data
// and JSON Schema as shared/events/ holds them (the schema with common.json's $defs bundled in,
// as webhookd serves it), copies them to the system clipboard, and "try it" checks an edited
// payload live with the shared C++ validator: the errors published are the ingest's 422 fields.
// Deep links (#/catalog/<type>) select an event; narrow windows stack the tree and the detail.
// Run: node --test tests/browser/   (MAMBO_WEB_ROOT=<built web root>)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import {
  clickWidget, grantClipboard, launchBrowser, openConsole, pasteInto, repoRoot, screenshot,
  startStaticServer, uiState, waitForUi, widget,
} from './lib.mjs';

let server;

before(async () => { server = await startStaticServer(); });
after(async () => { await server?.close(); });

// Runs `body({page, errors})` in a fresh browser (clipboard allowed) showing `hash`.
async function withConsole(hash, options, body) {
  const browser = await launchBrowser(options);
  await grantClipboard(browser.context);
  try {
    await body(await openConsole(browser.context, `${server.url}${hash}`));
  } finally {
    await browser.close();
  }
}

const readEvents = (name) => JSON.parse(readFileSync(join(repoRoot, 'shared', 'events', name), 'utf8'));

// What the console must show for `type`: the file's first example, and the file's schema with
// common.json's $defs added where the file has none of that name (what webhookd serves).
function expected(type) {
  const schema = readEvents(`${type}.json`);
  const common = readEvents('common.json');
  schema.$defs = { ...common.$defs, ...(schema.$defs ?? {}) };
  return { schema, example: schema.examples[0] };
}

const clipboard = (page) => page.evaluate(() => navigator.clipboard.readText());
const hash = (page) => page.evaluate(() => window.location.hash);

// Clicks `label` and waits for a frame drawn after the click where `done(state)` holds.
async function clickAndWait(page, state, label, done) {
  const frame = await clickWidget(page, state, label);
  return waitForUi(page, done, { afterFrame: frame });
}

// Replaces the try-it text with `text` through the clipboard (as a user pastes a payload) and
// waits until the console checked exactly that text.
async function pastePayload(page, state, text) {
  const frame = (await uiState(page)).frame;
  await pasteInto(page, state, 'try_payload', text);
  return waitForUi(page, (s, t) => s.fields.try_payload === t, { afterFrame: frame, arg: text });
}

const byField = (errors) => [...errors].sort((a, b) => a.field.localeCompare(b.field));

test('select device.enroll: example and schema as in shared/events, copied; try it validates live',
  async () => {
    const want = expected('device.enroll');
    await withConsole('#/catalog', {}, async ({ page, errors }) => {
      let state = await waitForUi(page, (s) => s.tree.some((n) => n.kind === 'category'));
      assert.equal(state.fields.selected_event, null);
      assert.equal(state.fields.catalog_layout, 'side_by_side');

      // Open Device Management > Device and click the Device Enroll row.
      state = await clickAndWait(page, state, 'category:Device Management',
        (s) => s.tree.some((n) => n.kind === 'group' && n.name === 'Device'));
      state = await clickAndWait(page, state, 'group:Device Management/Device',
        (s) => s.tree.some((n) => n.kind === 'event' && n.id === 'device.enroll'));
      // Wait for a frame whose tree shows the selection too (the field can lead it by a frame).
      state = await clickAndWait(page, state, 'event:device.enroll',
        (s) => s.fields.selected_event === 'device.enroll' &&
               s.tree.some((n) => n.selected && n.id === 'device.enroll'));
      assert.equal(state.fields.selected_version, 1);
      assert.equal(state.fields.detail_tab, 'example');
      assert.deepEqual(state.tree.filter((n) => n.selected).map((n) => n.id), ['device.enroll']);
      assert.equal(await hash(page), '#/catalog/device.enroll');

      // The example is the file's, indented; "Copy example" puts that text on the clipboard.
      assert.deepEqual(JSON.parse(state.fields.example_text), want.example);
      assert.match(state.fields.example_text, /^\{\n  "actor": \{\n    "id": "sys_enrollment",/);
      const example = state.fields.example_text;
      state = await clickAndWait(page, state, 'copy_example', (s) => s.fields.copied === 'example');
      assert.equal(await clipboard(page), example);
      await screenshot(page, 'catalog-event-example.png');

      // The schema tab: the file's schema with the common $defs bundled; copied the same way.
      state = await clickAndWait(page, state, 'tab_schema', (s) => s.fields.detail_tab === 'schema');
      assert.deepEqual(JSON.parse(state.fields.schema_text), want.schema);
      // Written in the order schemas are read: what the data is first, the shared $defs last.
      const keys = [...state.fields.schema_text.matchAll(/^  "([^"]+)":/gm)].map((m) => m[1]);
      assert.deepEqual(keys, ['$schema', '$id', 'title', 'description', 'type', 'properties',
        'required', 'additionalProperties', 'examples', '$defs']);
      assert.ok(state.fields.example_text === undefined, 'the example is not drawn in this tab');
      const schema = state.fields.schema_text;
      state = await clickAndWait(page, state, 'copy_schema', (s) => s.fields.copied === 'schema');
      assert.equal(await clipboard(page), schema);
      await screenshot(page, 'catalog-event-schema.png');

      // Try it: starts with the example's data, valid, and the body a receiver would get.
      state = await clickAndWait(page, state, 'tab_try', (s) => s.fields.detail_tab === 'try');
      assert.equal(state.fields.try_payload, example);
      assert.equal(state.fields.try_valid, true);
      assert.deepEqual(state.fields.try_errors, []);
      const envelope = JSON.parse(state.fields.envelope_text);
      assert.deepEqual(Object.keys(envelope), ['id', 'type', 'timestamp', 'team_id', 'data']);
      assert.equal(envelope.type, 'device.enroll');
      assert.deepEqual(envelope.data, want.example);
      // Indented for reading, in the order webhookd writes the body (not nlohmann's sorted keys).
      assert.match(state.fields.envelope_text, /^\{\n  "id": "evt_\w+",\n  "type": "device\.enroll",\n/);
      assert.match(state.fields.envelope_text, /\n  "data": \{\n    "actor": \{\n      "id": "sys_enrollment",/);
      assert.match(state.fields.envelope_text, /\n  \}\n\}$/);

      // Broken in four ways: the shared validator's paths and messages, as ingest's 422 has them.
      const broken = structuredClone(want.example);
      delete broken.device.name;
      broken.device.id = 42;
      broken.device.platform = 'symbian';
      broken.extra = true;
      state = await pastePayload(page, state, JSON.stringify(broken));
      assert.equal(state.fields.try_valid, false);
      assert.deepEqual(byField(state.fields.try_errors), [
        { field: 'data/device/id', message: 'Must be a string' },
        { field: 'data/device/name', message: 'Is required' },
        { field: 'data/device/platform',
          message: 'Must be one of "android", "ios", "ipados", "macos", "windows", "chromeos"' },
        { field: 'data/extra', message: 'Unknown field' },
      ]);
      assert.equal(state.fields.envelope_text, null);
      await screenshot(page, 'catalog-try-errors.png');

      // Not JSON at all: one error on "data" saying where the parser stopped.
      state = await pastePayload(page, state, '{"device": {');
      assert.deepEqual(state.fields.try_errors, [{ field: 'data', message:
        'Not valid JSON: parse error at line 1, column 13: syntax error while parsing object key ' +
        '- unexpected end of input; expected string literal' }]);
      // JSON, but not an object: ingest's own message for "data".
      state = await pastePayload(page, state, '[1, 2]');
      assert.deepEqual(state.fields.try_errors, [{ field: 'data', message: 'Must be a JSON object' }]);

      // Reset to example: valid again, the example's text back in the field.
      state = await clickAndWait(page, state, 'try_reset', (s) => s.fields.try_valid === true);
      assert.equal(state.fields.try_payload, example);
      assert.deepEqual(state.fields.try_errors, []);

      // Typed by hand: deleting the closing brace breaks it, typing it back fixes it.
      let frame = await clickWidget(page, state, 'try_payload');
      await waitForUi(page, (s) => s.text_input_active, { afterFrame: frame });
      frame = (await uiState(page)).frame;
      await page.keyboard.press('Control+End');
      await page.keyboard.press('Backspace');
      state = await waitForUi(page, (s) => s.fields.try_valid === false, { afterFrame: frame });
      assert.equal(state.fields.try_errors.length, 1);
      assert.equal(state.fields.try_errors[0].field, 'data');
      assert.match(state.fields.try_errors[0].message, /^Not valid JSON: parse error at line \d+/);
      frame = state.frame;
      await page.keyboard.type('}');
      state = await waitForUi(page, (s) => s.fields.try_valid === true, { afterFrame: frame });
      assert.equal(state.fields.try_payload, example);

      // A valid payload of one's own: another platform, no imei, a name with JSON's own
      // punctuation and escapes in it (the delivery body's indentation must leave strings alone).
      const own = { device: { ...want.example.device, platform: 'ios', name: 'a "b", {c}: [d] \\ \u00e9' },
                    actor: want.example.actor };
      delete own.device.imei;
      state = await pastePayload(page, state, JSON.stringify(own, null, 1));
      assert.equal(state.fields.try_valid, true);
      assert.deepEqual(JSON.parse(state.fields.envelope_text).data, own);
      await screenshot(page, 'catalog-try-valid.png');

      // Another event: its own example, and try it starts over from that example.
      state = await clickAndWait(page, state, 'event:device.update',
        (s) => s.fields.selected_event === 'device.update');
      assert.equal(await hash(page), '#/catalog/device.update');
      assert.deepEqual(JSON.parse(state.fields.try_payload), expected('device.update').example);
      assert.equal(state.fields.try_valid, true);
      assert.deepEqual(errors, []);
    });
  });

test('deep link #/catalog/<type> selects the event and opens the tree to it; unknown types say so',
  async () => {
    await withConsole('#/catalog/policy_component.update', {}, async ({ page, errors }) => {
      const state = await waitForUi(page, (s) => s.fields.selected_event === 'policy_component.update' &&
                                               s.tree.some((n) => n.kind === 'event'));
      const row = state.tree.find((n) => n.kind === 'event' && n.id === 'policy_component.update');
      assert.equal(row.selected, true);
      assert.ok(widget(state, 'event:policy_component.update'));
      assert.deepEqual(JSON.parse(state.fields.example_text),
                       expected('policy_component.update').example);

      // Another link typed into the address bar: a type the catalog does not have.
      const frame = state.frame;
      await page.evaluate(() => { window.location.hash = '#/catalog/device.explode'; });
      const unknown = await waitForUi(page, (s) => s.fields.unknown_event === 'device.explode',
                                      { afterFrame: frame });
      assert.equal(unknown.fields.selected_event, null);
      assert.equal(unknown.screen, 'catalog');
      assert.deepEqual(errors, []);
    });
  });

test('narrow window: tree above the detail, every control of the detail on screen', async () => {
  await withConsole('#/catalog/device.enroll', { width: 640, height: 900 }, async ({ page, errors }) => {
    let state = await waitForUi(page, (s) => s.fields.selected_event === 'device.enroll' &&
                                             !!s.widgets.copy_example);
    assert.equal(state.fields.catalog_layout, 'stacked');
    const inView = (r) => r.x >= 0 && r.y >= 0 && r.x + r.w <= 640 && r.y + r.h <= 900;
    const tree = widget(state, 'event:device.enroll');
    for (const label of ['copy_example', 'example_text', 'tab_schema', 'tab_try']) {
      assert.ok(inView(widget(state, label)), `${label} on screen: ${JSON.stringify(state.widgets[label])}`);
      assert.ok(widget(state, label).y > tree.y, `${label} below the tree`);
    }
    await screenshot(page, 'catalog-narrow-example.png');
    state = await clickAndWait(page, state, 'tab_try', (s) => s.fields.detail_tab === 'try');
    for (const label of ['try_reset', 'try_payload']) {
      assert.ok(inView(widget(state, label)), `${label} on screen`);
    }
    state = await pastePayload(page, state, '{"device": {}, "actor": {"type": "system", "id": "s"}}');
    assert.equal(state.fields.try_valid, false);
    assert.ok(state.fields.try_errors.some((e) => e.field === 'data/device/id' && e.message === 'Is required'));
    await screenshot(page, 'catalog-narrow-try.png');
    assert.deepEqual(errors, []);
  });
});
