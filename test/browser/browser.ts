/**
 * Shared by the browser tests: launching Debian's headless Chromium through playwright-core, screenshots under
 * .test-artifacts/browser/, and the demo-shop walk (list → product → cart → checkout → order).
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(__dirname, '../../.test-artifacts/browser');

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install it with "apt-get update && apt-get install -y chromium" ` +
        '(./run test installs it).',
    );
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
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

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Resolves when a /v1/batch request carrying `text` has been answered. */
export function batchAnswered(page: Page, text: string) {
  return page.waitForResponse(
    (r) => r.url().endsWith('/v1/batch') && r.request().method() === 'POST' && !!r.request().postData()?.includes(text),
    { timeout: 20_000 },
  );
}

/**
 * Walks the demo shop: accept or deny in the banner, view the Classic Mug, add two, open the cart and start
 * checkout; with `buy`, place the order. Returns the purchase event_id the confirmation page shows.
 */
export async function shop(
  page: Page,
  url: string,
  choice: 'accept' | 'deny',
  buy: boolean,
  label: string = choice,
): Promise<string | null> {
  await page.goto(`${url}/demo`);
  await page.locator('#consent').waitFor({ state: 'visible' });
  await shot(page, `${label}-1-list-banner`);
  await page.click(choice === 'accept' ? '#consent-accept' : '#consent-deny');
  await page.click('[data-product="mug-classic"]');
  await page.locator('#add-to-cart').waitFor();
  await shot(page, `${label}-2-product`);
  await page.fill('#qty', '2');
  await page.click('#add-to-cart');
  await page.locator('#checkout').waitFor();
  await shot(page, `${label}-3-cart`);
  if (!buy) {
    const sent = batchAnswered(page, '"Checkout"');
    await page.click('#checkout');
    await sent;
    return null;
  }
  await page.click('#checkout');
  await page.locator('#place-order').waitFor();
  const purchase = batchAnswered(page, 'Order Completed');
  const confirmation = batchAnswered(page, 'Order Confirmation');
  await page.click('#place-order');
  await purchase;
  await confirmation;
  await page.locator('#event-id').waitFor();
  await shot(page, `${label}-4-thanks`);
  return page.locator('#event-id').textContent();
}

/** The demo's event sequence for a purchase (after `shop(..., true)`), as `type:name`. */
export const PURCHASE_SEQUENCE = [
  'page:Product List',
  'page:Product',
  'track:Product Viewed',
  'track:Product Added',
  'page:Cart',
  'track:Checkout Started',
  'page:Checkout',
  'identify:',
  'track:Order Completed',
  'page:Order Confirmation',
];
/** ... and without the order. */
export const BROWSE_SEQUENCE = PURCHASE_SEQUENCE.slice(0, 7);
