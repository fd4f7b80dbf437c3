// The e2e harness: starts the real `onboard up` binary on a free port with a temporary data
// directory, drives Debian's Chromium through playwright-core, and keeps screenshots.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, mkdtempSync, existsSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const WEB_ROOT = resolve(here, '..');
export const REPO_ROOT = resolve(WEB_ROOT, '..');
export const ARTIFACTS = join(here, 'artifacts');
export const WEB_DIR = join(WEB_ROOT, 'dist', 'onboard', 'browser');

/** Generous but bounded: a 2-core CI machine is slow, a hang must still fail. */
export const WAIT_MS = 20_000;

export function onboardBinary() {
  const candidates = [
    process.env.ONBOARD_BIN,
    process.env.CARGO_TARGET_DIR && join(process.env.CARGO_TARGET_DIR, 'debug', 'onboard'),
    join(REPO_ROOT, 'target', 'debug', 'onboard'),
  ].filter(Boolean);
  const found = candidates.find((path) => existsSync(path));
  if (!found) {
    throw new Error(`the onboard binary is missing (looked at ${candidates.join(', ')}); run cargo build first or set ONBOARD_BIN`);
  }
  if (!existsSync(join(WEB_DIR, 'index.html'))) {
    throw new Error(`the web app is not built in ${WEB_DIR}; run npx ng build in web/ first`);
  }
  return found;
}

export async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * The environment of `onboard up`: this one without any Onboard setting (`KAFKA_*`,
 * `DATABASE_URL`, `ONBOARD_*`, `SMTP_*`, `WEBHOOK_*`, `OTEL_*`), so the server runs on its own embedded bus
 * and SQLite store in its data directory even when the shell (or scripts/test.sh) points at a
 * shared Kafka or PostgreSQL.
 */
export function hermeticEnv() {
  const setting = /^(ONBOARD_|KAFKA_|SMTP_|WEBHOOK_|OTEL_|DATABASE_URL$)/;
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !setting.test(name)));
}

/** One `onboard up` process; `stop` and `start` again keep the port and the data. */
export class OnboardServer {
  /** `env`: settings for this server (an identity provider's `ONBOARD_AUTH_*`). */
  constructor(env = {}) {
    this.env = env;
    this.bin = onboardBinary();
    this.dataDir = mkdtempSync(join(tmpdir(), 'onboard-e2e-'));
    this.port = 0;
    this.child = null;
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, 'onboard-up.log'), '');
  }

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    if (!this.port) {
      this.port = await freePort();
    }
    const log = openSync(join(ARTIFACTS, 'onboard-up.log'), 'a');
    this.child = spawn(
      this.bin,
      ['up', '--listen', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir, '--web-dir', WEB_DIR],
      { stdio: ['ignore', log, log], env: { ...hermeticEnv(), ONBOARD_LOG: 'warn', ...this.env } },
    );
    const exited = new Promise((_, reject) =>
      this.child.once('exit', (code) => reject(new Error(`onboard up exited early (code ${code}); see e2e/artifacts/onboard-up.log`))),
    );
    exited.catch(() => undefined);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      try {
        const answer = await fetch(`${this.base}/readyz`);
        if (answer.ok) {
          return;
        }
      } catch {
        /* not listening yet */
      }
      await Promise.race([sleep(200), exited]);
    }
    throw new Error('onboard up did not become ready within 60 s');
  }

  /** SIGTERM and wait: the server drains and closes every WebSocket. */
  async stop() {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) {
      return;
    }
    const done = new Promise((resolveExit) => child.once('exit', resolveExit));
    child.kill('SIGTERM');
    const timeout = sleep(15_000).then(() => 'timeout');
    if ((await Promise.race([done, timeout])) === 'timeout') {
      child.kill('SIGKILL');
      await done;
    }
  }

  managementToken() {
    return execFileSync(this.bin, ['token', '--management', '--data-dir', this.dataDir], { encoding: 'utf8' }).trim();
  }

  async devToken(customerId) {
    const answer = await fetch(`${this.base}/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ customerId }),
    });
    if (!answer.ok) {
      throw new Error(`dev token: ${answer.status}`);
    }
    return (await answer.json()).token;
  }

  async cleanup() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROME_BIN || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * One `onboard up` (with `env`) and one Chromium for a test file: started before its tests and
 * stopped after them. Every page `newPage` opens fails the test it runs in with an uncaught error.
 */
export function browserSuite(env = {}) {
  const server = new OnboardServer(env);
  const pageErrors = [];
  let browser;
  before(async () => {
    await server.start();
    browser = await launchBrowser();
  });
  afterEach(() => {
    const errors = pageErrors.splice(0);
    assert.deepEqual(errors, [], 'no uncaught error on any page');
  });
  after(async () => {
    await browser?.close();
    await server.cleanup();
  });
  async function newPage(viewport = { width: 1280, height: 900 }) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    page.on('pageerror', (error) => {
      console.error(`page error: ${error.message}`);
      pageErrors.push(error.message);
    });
    return page;
  }
  return { server, newPage };
}

/** The first step for `customerId` through the API (a development token): its application id. */
export async function submitUserInfo(server, customerId, lastName = 'Still') {
  const token = await server.devToken(customerId);
  const answer = await fetch(`${server.base}/v1/customers`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      email: `${customerId}@example.com`,
      firstName: 'Stella',
      lastName,
      dateOfBirth: '1990-01-01',
      phoneNumber: '+1234567890',
    }),
  });
  assert.equal(answer.status, 201);
  return (await answer.json()).applicationId;
}

/** Runs one SQL statement on the server's SQLite file, as an operator's `sqlite3` would. */
export function sqlite(server, statement) {
  execFileSync('sqlite3', ['-cmd', '.timeout 5000', join(server.dataDir, 'onboard.db'), statement]);
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export function uniqueId(name) {
  return `e2e-${name}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** A tiny but real PNG (1×1), recognised by the server from its bytes. */
export const PNG_BYTES = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

// ---- page steps -------------------------------------------------------------------------

export async function signIn(page, base, customerId) {
  await page.goto(`${base}/`);
  await page.getByLabel('Customer ID').fill(customerId);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Your onboarding' }).waitFor({ timeout: WAIT_MS });
  await waitForConnection(page, 'Live');
}

export async function waitForConnection(page, label) {
  await page.waitForFunction(
    (text) => document.querySelector('[data-testid=connection]')?.textContent?.includes(text),
    label,
    { timeout: WAIT_MS },
  );
}

export async function submitDetails(page, person, overrides = {}) {
  const values = {
    Email: `${person.first.toLowerCase()}@example.com`,
    'First name': person.first,
    'Last name': person.last,
    'Date of birth': '1990-01-01',
    'Phone number': '+14155550123',
    ...overrides,
  };
  for (const [label, value] of Object.entries(values)) {
    await page.getByLabel(label, { exact: true }).fill(value);
  }
  await page.getByRole('button', { name: 'Continue' }).click();
}

export async function uploadDocument(page, person) {
  await page.getByRole('heading', { name: /Step 2 of 5/ }).waitFor({ timeout: WAIT_MS });
  await page.getByLabel('Document type').selectOption('passport');
  await page.getByLabel('Document number').fill('X1234567');
  await page.getByLabel('Full name on the document').fill(`${person.first} ${person.last}`);
  await page.getByLabel('Expiry date').fill('2035-01-01');
  await page.getByLabel('Document file').setInputFiles({ name: 'passport.png', mimeType: 'image/png', buffer: PNG_BYTES });
  await page.getByRole('button', { name: 'Upload document' }).click();
}

export async function verifyIdentity(page) {
  await page.getByRole('heading', { name: /Step 3 of 5/ }).waitFor({ timeout: WAIT_MS });
  await page.getByRole('button', { name: 'Verify my identity' }).click();
}

export async function chooseCoverage(page) {
  await page.getByRole('heading', { name: /Step 4 of 5/ }).waitFor({ timeout: WAIT_MS });
  await page.getByLabel('Coverage type').selectOption('life');
  await page.getByLabel('Monthly budget').fill('60');
  await page.getByRole('button', { name: 'Get my recommendation' }).click();
}

export async function acceptPolicy(page) {
  await page.getByRole('heading', { name: /Step 5 of 5/ }).waitFor({ timeout: WAIT_MS });
  await page.getByRole('button', { name: 'Accept this policy' }).click();
  await page.getByRole('heading', { name: 'You are all set' }).waitFor({ timeout: WAIT_MS });
}

/** Waits until the timeline holds `count` events, then returns them in page order. */
export async function waitForTimeline(page, count) {
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid=timeline] > li').length >= n,
    count,
    { timeout: WAIT_MS },
  );
  return timeline(page);
}

export async function timeline(page) {
  return page.$$eval('[data-testid=timeline] > li', (items) =>
    items.map((li) => ({
      sequence: Number(li.getAttribute('data-sequence')),
      topic: li.getAttribute('data-topic'),
      sentence: li.querySelector('.sentence')?.textContent?.trim() ?? '',
      time: li.querySelector('time')?.textContent?.trim() ?? '',
    })),
  );
}

export const FIVE_TOPICS = [
  'user-info-submitted',
  'documents-processed',
  'kyc-verified',
  'policy-recommended',
  'workflow-completed',
];
