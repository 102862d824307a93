// The GUI end to end in a real headless Chromium, driven by playwright-core. The Rust harness
// (cli/tests/ui_e2e.rs) starts `keeperdb ui` over a prepared config, the KSM emulator and the
// PostgreSQL test server, and hands this script a JSON config (KEEPERDB_UI_E2E_CONFIG).
// Any failed expectation throws: the process exits non-zero and the harness fails.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(readFileSync(process.env.KEEPERDB_UI_E2E_CONFIG, 'utf8'));
const figures = {};
const problems = [];
let shot = 0;

const browser = await chromium.launch({ executablePath: cfg.chromium, headless: true, args: ['--no-sandbox'] });
const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
await context.grantPermissions(['clipboard-read', 'clipboard-write']);
const page = await context.newPage();
// Answers the page expects (a cancelled query: 409, a write waiting for confirmation: 428)
// are logged by Chromium as failed loads; anything else is a problem.
const expected = /Failed to load resource: the server responded with a status of (409|428)/;
page.on('console', (m) => m.type() === 'error' && !expected.test(m.text()) && problems.push(`console: ${m.text()}`));
await page.addInitScript(() =>
  document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.sourceFile}:${e.lineNumber}`)),
);
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.setDefaultTimeout(30_000);

const testid = (id) => page.locator(`[data-testid="${id}"]`);
const screenshot = async (name) => {
  shot += 1;
  await page.screenshot({ path: join(cfg.screenshots, `${String(shot).padStart(2, '0')}-${name}.png`) });
};
const step = async (name, body) => {
  try {
    await body();
  } catch (e) {
    await screenshot(`FAILED-${name}`).catch(() => {});
    throw new Error(`step "${name}": ${e.message}`);
  }
};
/** Replace the editor's text (inserted as typed text, without auto-closing brackets). */
const setSql = async (sql) => {
  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(sql);
};
const run = async () => testid('run').click();
const cellTexts = async (row) =>
  page.locator(`[data-testid="grid-row"][data-row="${row}"] [data-testid="grid-cell"]`).allInnerTexts();

try {
  await step('first run', async () => {
    const started = Date.now();
    await page.goto(cfg.url);
    await testid('first-run').waitFor();
    figures.launch_to_first_screen_ms = Date.now() - (cfg.started_at_ms ?? started);
    assert.equal(new URL(page.url()).search, '', 'the token left the address bar');
    await screenshot('first-run');
  });

  await step('attach the vault', async () => {
    await testid('vault-name-input').fill(cfg.vault.name);
    await testid('vault-token-input').fill(cfg.vault.token);
    await page.locator('.vault-form summary').click();
    await testid('vault-proxy-input').fill(cfg.vault.proxy);
    await testid('vault-key-input').fill(cfg.vault.server_public_key);
    await testid('vault-key-id-input').fill(String(cfg.vault.server_public_key_id));
    await testid('vault-connect').click();
    await testid('app').waitFor({ timeout: 60_000 });
  });

  await step('local and vault connections with their badges', async () => {
    const local = page.locator(`[data-testid="connection-item"][data-name="${cfg.local_connection}"]`);
    const vault = page.locator(`[data-testid="connection-item"][data-name="${cfg.vault_connection}"]`);
    await vault.waitFor();
    assert.equal(await local.getByTestId('badge').innerText(), 'Local');
    assert.equal(await vault.getByTestId('badge').innerText(), 'Vault');
    assert.equal(await vault.getByTestId('vault-name').innerText(), cfg.vault.name);
    assert.equal(await local.getByTestId('env-tag').innerText(), 'production');
    const green = await vault.getByTestId('badge').evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.match(green, /^rgb\(\s*2[0-9], 1[0-9]{2}, [0-9]{2}\)$/, `the Vault badge is green (${green})`);
    await screenshot('connections');
  });

  await step('reload paints the list', async () => {
    const t = Date.now();
    await page.reload();
    await page.locator('[data-testid="connection-item"]').first().waitFor();
    figures.reload_to_connection_list_ms = Date.now() - t;
  });

  await step('query a vault connection and read the grid', async () => {
    await page.locator(`[data-testid="connection-item"][data-name="${cfg.vault_connection}"]`).click();
    assert.equal(await testid('current-connection').innerText(), cfg.vault_connection);
    await setSql("SELECT 1 AS one, NULL AS nul, '' AS empty");
    await run();
    await page.locator('[data-testid="grid-row"][data-row="1"] [data-testid="grid-cell"]').first().waitFor();
    assert.deepEqual(await cellTexts(1), ['1', 'NULL', '']);
    const cells = page.locator('[data-testid="grid-row"][data-row="1"] [data-testid="grid-cell"]');
    assert.match(await cells.nth(1).getAttribute('class'), /\bnull\b/, 'NULL is marked as NULL');
    assert.doesNotMatch(await cells.nth(2).getAttribute('class'), /\bnull\b/, "'' is not NULL");
    await screenshot('vault-query');
  });

  await step('scroll a 1,000,000-row result', async () => {
    await setSql(cfg.million_rows_sql);
    const t = Date.now();
    await run();
    await page.locator('[data-testid="grid-row"][data-row="1"]').waitFor();
    figures.time_to_first_rows_ms = Date.now() - t;
    assert.equal((await cellTexts(1))[0], '1');
    await testid('fetch-all').click({ timeout: 60_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid="row-count"]')?.textContent?.startsWith('1,000,000 rows') && !document.querySelector('[data-testid="row-count"]')?.textContent?.includes('loading'), null, { timeout: 180_000 });
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const heap = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'JSHeapUsedSize').value;
    figures.heap_before_scroll_mb = (await heap()) / 1048576;
    const scroller = testid('grid-scroll');
    for (const target of [500_000, 1_000_000]) {
      await scroller.evaluate((el, row) => (el.scrollTop = (row - 1) * 24), target);
      await page.locator(`[data-testid="grid-row"][data-row="${target}"] [data-testid="grid-cell"]`).first().waitFor();
      await page.waitForFunction((row) => document.querySelector(`[data-testid="grid-row"][data-row="${row}"] [data-testid="grid-cell"]`)?.textContent === String(row), target, { timeout: 15_000 });
      const [n, label] = await cellTexts(target);
      assert.equal(n, String(target), `row ${target} shows its own value`);
      assert.equal(label, `row ${target}`);
    }
    figures.heap_after_scroll_mb = (await heap()) / 1048576;
    const rendered = await page.locator('[data-testid="grid-row"]').count();
    assert.ok(rendered < 200, `only the rows in view are in the page (${rendered})`);
    await screenshot('million-rows');
  });

  await step('cancel a long query', async () => {
    await setSql(cfg.long_query_sql);
    const t = Date.now();
    await run();
    await testid('running').waitFor();
    await page.waitForTimeout(800);
    await testid('cancel').click();
    await page.locator('[data-testid="query-error"]', { hasText: /cancel/i }).waitFor({ timeout: 20_000 });
    assert.ok(Date.now() - t < 30_000, 'the query stopped long before it would have ended');
    await screenshot('cancelled');
  });

  await step('a write to production is confirmed in the page', async () => {
    await page.locator(`[data-testid="connection-item"][data-name="${cfg.local_connection}"]`).click();
    await setSql('CREATE TEMP TABLE e2e_confirm (x int)');
    await run();
    await testid('confirm-dialog').waitFor();
    await screenshot('confirm-production');
    await testid('confirm-run').click();
    await testid('affected').waitFor();
  });

  await step('sync to the vault with live progress', async () => {
    await testid('settings-button').click();
    await testid('tab-storage').click();
    await testid('storage-enable').click();
    await testid('storage-sync').click();
    const expected = `Configuring... ${cfg.sync_total} of ${cfg.sync_total}`;
    const seen = new Set();
    const deadline = Date.now() + 180_000;
    for (;;) {
      const text = await testid('sync-progress').innerText().catch(() => '');
      if (text) seen.add(text);
      if (text === expected) break;
      assert.ok(Date.now() < deadline, `progress never reached "${expected}" (last: "${text}")`);
      await page.waitForTimeout(50);
    }
    assert.ok(seen.size > 2, `progress moved (${[...seen].slice(0, 5).join(' | ')})`);
    await testid('sync-result').waitFor({ timeout: 60_000 });
    await screenshot('storage-synced');
  });

  await step('switch theme', async () => {
    const before = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await testid('tab-prefs').click();
    await testid('theme-select').selectOption('dark');
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
    const after = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(after, before, 'the page turned dark at once');
    await screenshot('preferences-dark');
    await page.keyboard.press('Escape');
    await page.reload();
    await testid('app').waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark', 'the theme is a saved preference');
    await screenshot('dark');
  });

  await step('Ctrl+K switches connection', async () => {
    await page.keyboard.press('Control+K');
    await testid('switcher').waitFor();
    await testid('switcher-input').fill(cfg.vault_connection);
    await page.locator('[data-testid="switcher-item"]').first().filter({ hasText: cfg.vault_connection }).waitFor();
    await page.keyboard.press('Enter');
    await page.waitForFunction((name) => document.querySelector('[data-testid="current-connection"]')?.textContent === name, cfg.vault_connection);
    await screenshot('switched');
  });

  assert.deepEqual(problems, [], 'no console errors, page errors or CSP violations');
} finally {
  if (cfg.bench) console.log(JSON.stringify({ figures }));
  await browser.close();
}
console.log('ui e2e: all steps passed');
