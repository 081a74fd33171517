// Drives the chat page of a running `s4c serve` in headless Chromium
// (Debian's package): sends the default prompt, waits for the streamed
// reply, and checks that tokens are coloured by how they were produced,
// in the DOM and in a screenshot's pixels. Environment: BASE_URL, SHOT
// (where the screenshot goes), CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';
import { readFileSync } from 'node:fs';

const base = process.env.BASE_URL, shot = process.env.SHOT;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
let failed = 0;
const fail = (msg) => { failed++; console.log('FAIL ' + msg); };
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  page.on('pageerror', (e) => fail('page error: ' + e.message));
  await page.goto(base + '/');
  await page.click('#send');
  await page.waitForSelector('#stats[data-done="1"]', { timeout: 30000 });
  const spans = await page.$$eval('.assistant span', (s) => s.map((x) => ({ d: Number(x.dataset.depth), cls: x.className, text: x.textContent })));
  const drafted = spans.filter((s) => s.d > 0).length;
  const stats = await page.textContent('#stats');
  console.log(`reply: ${spans.length} pieces, ${drafted} from accepted drafts; stats: ${stats}`);
  if (spans.length < 20) fail(`only ${spans.length} pieces streamed`);
  if (drafted === 0) fail('no piece came from an accepted draft');
  if (spans.some((s) => s.cls !== 'd' + Math.min(s.d, 6))) fail('a piece has the wrong colour class');
  const tau = Number((stats.match(/τ ([0-9.]+)/) || [])[1]);
  if (!(tau > 1)) fail(`τ shown as ${stats}`);
  await page.screenshot({ path: shot });
  // The screenshot shows the draft colours: count pixels of each shade.
  const png = PNG.sync.read(readFileSync(shot));
  const shades = { d1: [0xd6, 0xec, 0xff], d2: [0xb3, 0xdb, 0xff], d3: [0x8c, 0xc8, 0xff], d4: [0x66, 0xb5, 0xff] };
  const counts = Object.fromEntries(Object.keys(shades).map((k) => [k, 0]));
  for (let i = 0; i < png.data.length; i += 4) {
    for (const [k, [r, g, b]] of Object.entries(shades)) {
      if (png.data[i] === r && png.data[i + 1] === g && png.data[i + 2] === b) counts[k]++;
    }
  }
  console.log('screenshot pixels per draft shade:', JSON.stringify(counts));
  // The legend alone shows each shade once (its depth-1 chip about 2000
  // pixels, the others a few hundred); a reply with accepted drafts adds
  // thousands more.
  if (counts.d1 < 4000 || counts.d2 < 1500) fail('the screenshot does not show the reply coloured by draft depth');
} finally {
  await browser.close();
}
if (failed) process.exit(1);
console.log('chat page: ok (screenshot ' + shot + ')');
