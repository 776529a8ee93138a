// The event catalog page (#/catalog, open without signing in): the page loads in headless
// Chromium, draws the catalog as a tree a user can expand, shows each event's purpose on hover and
// validates a URL live with the shared validator; the canvas follows size and devicePixelRatio.
// Run: node --test tests/browser/   (MAMBO_WEB_ROOT=<built web root>)

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  clickWidget, hoverWidget, launchBrowser, openConsole, screenshot, startStaticServer, uiState,
  waitForUi, widget,
} from './lib.mjs';

let server;

before(async () => { server = await startStaticServer(); });
after(async () => { await server?.close(); });

// Runs `body({page, errors})` in a fresh browser showing the console.
async function withConsole(options, body) {
  const browser = await launchBrowser(options);
  try {
    await body(await openConsole(browser.context, `${server.url}#/catalog`));
  } finally {
    await browser.close();
  }
}

const count = (state, kind) => state.tree.filter((n) => n.kind === kind).length;

test('page has the console title and an inline SVG favicon', async () => {
  await withConsole({}, async ({ page }) => {
    await waitForUi(page, (s) => s.screen === 'catalog');
    assert.equal(await page.title(), 'mambo EMM \u2014 Event catalog');
    const icon = await page.getAttribute('link[rel="icon"]', 'href');
    assert.match(icon, /^data:image\/svg\+xml,/);
  });
});

test('catalog tree expands to 6 categories, 10 groups, 25 events; URL validated live', async () => {
  await withConsole({}, async ({ page, errors }) => {
    // First frame with the catalog drawn: categories only, all closed.
    let state = await waitForUi(page, (s) => s.tree.some((n) => n.kind === 'category'));
    assert.equal(state.screen, 'catalog');
    assert.equal(count(state, 'category'), 6);
    assert.equal(count(state, 'group'), 0);
    await screenshot(page, 'catalog-initial.png');

    // Open every category by clicking its header like a user.
    for (const node of state.tree.filter((n) => n.kind === 'category')) {
      const frame = await clickWidget(page, state, `category:${node.name}`);
      state = await waitForUi(
        page, (s, name) => s.tree.some((n) => n.kind === 'category' && n.name === name && n.open),
        { afterFrame: frame, arg: node.name });
    }
    assert.equal(count(state, 'category'), 6);
    assert.equal(count(state, 'group'), 10);

    // Then every group (rectangles move as groups open: re-read the state after each click).
    const groups = state.tree.filter((n) => n.kind === 'group').map((n) => `${n.category}/${n.name}`);
    for (const key of groups) {
      const frame = await clickWidget(page, state, `group:${key}`);
      state = await waitForUi(
        page, (s, key) => s.tree.some((n) => n.kind === 'group' && `${n.category}/${n.name}` === key && n.open),
        { afterFrame: frame, arg: key });
    }
    assert.equal(count(state, 'category'), 6);
    assert.equal(count(state, 'group'), 10);
    assert.equal(count(state, 'event'), 25);
    assert.ok(state.tree.some((n) => n.kind === 'event' && n.id === 'device.enroll'));

    // Hovering an event shows its purpose as a tooltip.
    let frame = await hoverWidget(page, state, 'event:device.enroll');
    state = await waitForUi(page, (s) => s.fields.tooltip_event === 'device.enroll',
                            { afterFrame: frame });
    await screenshot(page, 'catalog-expanded-tooltip.png');

    // A plain-http URL, typed into the field: the shared validator's message appears.
    frame = await clickWidget(page, state, 'url');
    await waitForUi(page, (s) => s.text_input_active, { afterFrame: frame });
    await page.keyboard.type('http://example.com');
    state = await waitForUi(page, (s) => s.fields.url === 'http://example.com', { afterFrame: frame });
    assert.equal(state.fields.url_error, 'URL must use https');
    assert.equal(state.fields.url_valid, false);
    assert.ok(widget(state, 'url_message'));
    await screenshot(page, 'catalog-url-error.png');

    // Fixed by the user (select all, retype): valid.
    frame = (await uiState(page)).frame;
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');
    await page.keyboard.type('https://example.com/hooks');
    state = await waitForUi(page, (s) => s.fields.url === 'https://example.com/hooks',
                            { afterFrame: frame });
    assert.equal(state.fields.url_error, null);
    assert.equal(state.fields.url_valid, true);
    await screenshot(page, 'catalog-url-valid.png');

    assert.deepEqual(errors, []);
  });
});

test('high-DPI: canvas backing store is CSS size x devicePixelRatio; rectangles stay in CSS px',
     async () => {
  await withConsole({ width: 800, height: 600, deviceScaleFactor: 2 }, async ({ page, errors }) => {
    let state = await waitForUi(page, (s) => s.tree.some((n) => n.kind === 'category'));
    assert.equal(state.device_pixel_ratio, 2);
    const canvas = await page.evaluate(() => {
      const c = document.getElementById('canvas');
      return { w: c.width, h: c.height, cssW: c.clientWidth, cssH: c.clientHeight };
    });
    assert.deepEqual(canvas, { w: 1600, h: 1200, cssW: 800, cssH: 600 });

    // A click at a CSS-pixel rectangle lands on that widget.
    const first = state.tree.find((n) => n.kind === 'category');
    const frame = await clickWidget(page, state, `category:${first.name}`);
    state = await waitForUi(page, (s) => s.tree.some((n) => n.kind === 'group'), { afterFrame: frame });
    assert.ok(state.tree.every((n) => n.kind !== 'group' || n.category === first.name));
    await screenshot(page, 'catalog-hidpi.png');

    // The canvas follows the window: a smaller window gives a smaller backing store.
    await page.setViewportSize({ width: 700, height: 500 });
    await page.waitForFunction(() => {
      const c = document.getElementById('canvas');
      return c.width === 1400 && c.height === 1000;
    }, null, { polling: 'raf', timeout: 30000 });
    assert.deepEqual(errors, []);
  });
});
