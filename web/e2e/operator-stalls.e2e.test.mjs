// End to end: the operator page's stall list, dead letters, bounded recent events and the
// connections table, in Debian's Chromium against `onboard up` with a stall threshold of one
// second (ONBOARD_STALL_AFTER=1s).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WAIT_MS, browserSuite, screenshot, signIn, submitUserInfo, uniqueId } from './support.mjs';

const { server, newPage } = browserSuite({ ONBOARD_STALL_AFTER: '1s' });

describe('the operator page at 1280 px', () => {
  test('lists the stalled application, the dead letters, filters recent events and fits the connections', async () => {
    const customerId = uniqueId('stella');
    // The first step, then nothing: the application stalls.
    const applicationId = await submitUserInfo(server, customerId);
    const watcher = await newPage();
    await signIn(watcher, server.base, uniqueId('watcher'));

    const page = await newPage();
    await page.goto(`${server.base}/operator`);
    await page.getByLabel('Management token').fill(server.managementToken());
    await page.getByRole('button', { name: 'Show overview' }).click();

    // The stall appears once its threshold passed (the monitor looks every second).
    const stalledRow = page.locator('[data-testid=stalled-applications] tbody tr', { hasText: applicationId });
    await stalledRow.waitFor({ timeout: WAIT_MS });
    assert.match(await stalledRow.textContent(), /USER_INFO_SUBMITTED/);
    assert.match(await stalledRow.textContent(), new RegExp(customerId));

    // No dead letters in a healthy system: the table says so.
    await page
      .locator('[data-testid=dead-letter-records] tbody tr', { hasText: 'No dead-lettered records.' })
      .waitFor({ timeout: WAIT_MS });

    // Recent events: filtered to one customer, then to nothing.
    await page.locator('[data-testid=recent-events] tbody tr', { hasText: customerId }).waitFor({ timeout: WAIT_MS });
    await page.getByLabel('Filter (customer, topic or text)').fill(customerId);
    await page.waitForFunction(
      (id) => {
        const rows = [...document.querySelectorAll('[data-testid=recent-events] tbody tr')];
        return rows.length > 0 && rows.every((row) => row.textContent.includes(id));
      },
      customerId,
      { timeout: WAIT_MS },
    );
    await page.getByLabel('Filter (customer, topic or text)').fill('no-such-customer-anywhere');
    await page
      .locator('[data-testid=recent-events] tbody tr', { hasText: 'No event matches the filter.' })
      .waitFor({ timeout: WAIT_MS });

    // The recent events stay in a bounded box; the connections table fits 1280 px.
    const recentHeight = await page
      .locator('[data-testid=recent-events]')
      .evaluate((table) => table.closest('.table-wrap').getBoundingClientRect().height);
    assert.ok(recentHeight <= 400, `the recent events box is bounded (${recentHeight}px)`);
    await page.locator('[data-testid=connections] tbody tr').first().waitFor({ timeout: WAIT_MS });
    const connections = await page
      .locator('[data-testid=connections]')
      .evaluate((table) => ({ table: table.scrollWidth, box: table.closest('.table-wrap').clientWidth }));
    assert.ok(connections.table <= connections.box, `the connections table needs no scrolling (${JSON.stringify(connections)})`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at 1280 px (overflow ${overflow}px)`);
    await screenshot(page, '20-operator-stalls-1280');
    await page.context().close();
    await watcher.context().close();
  });
});
