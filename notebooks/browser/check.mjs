#!/usr/bin/env node
// Opens notebooks in a running JupyterLab in headless Chromium, untrusted, and checks that every
// chart the notebook's JSON holds is shown as an image of non-zero size. Run by
// notebooks/browser.sh, which installs everything, starts JupyterLab on 127.0.0.1 with fresh
// Jupyter directories (no trust database) and passes:
//
//   node check.mjs --base http://127.0.0.1:PORT --root DIR --out DIR --chromium /usr/bin/chromium \
//                  [--control REL] REL.ipynb ...
//
// REL paths are relative to DIR, JupyterLab's root_dir. The token comes from $JUPYTER_TOKEN.
// playwright-core is loaded from $PLAYWRIGHT_NODE_DIR/node_modules (browser.sh installs it there
// with `npm ci` from this folder's package-lock.json).
//
// A chart, in the JSON, is an `<img>` with a `data:image/...` source inside a text/html output
// (how the kit's charts are committed: notebooks/check_outputs.py), or an image/png, image/jpeg,
// image/gif or image/svg+xml output without text/html; an inline <svg> in text/html counts too,
// and always fails (untrusted JupyterLab strips it). For each notebook it checks:
//   - no code cell is trusted (JupyterLab's own model of the notebook says so);
//   - the number of chart images rendered in each cell equals the number in the JSON, so a chart
//     JupyterLab strips from an untrusted notebook (inline <svg>, say) fails, named by alt text;
//   - every chart image loaded (naturalWidth > 0), has a non-zero box once scrolled into view,
//     and non-empty alt text in the JSON (JupyterLab shows a missing one as "Image") and the
//     same alt text in the page;
//   - no kernel was started.
// The control notebook (--control), written by browser.sh, shows the same <img> next to an inline
// <svg>: the <img> must render and the <svg> must be stripped, which proves the page really is
// the untrusted view (were the notebooks trusted, the check would prove nothing).
//
// Set BROWSER_CHECK_VERBOSE=1 for each chart's sizes and each notebook's timings.
//
// Screenshots: OUT/NAME.png (the whole notebook; OUT/NAME-2.png ... when it is taller than one
// image can be) and OUT/NAME--chart-K.png for each chart. Exit status 1 on any failure, naming
// the notebook and the chart; every step has a bounded timeout.

import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const STEP_TIMEOUT_MS = 30_000; // any one wait in the page
const NOTEBOOK_TIMEOUT_MS = 180_000; // everything for one notebook
const VIEWPORT = { width: 1400, height: 1000 };
const MAX_SHOT_HEIGHT = 15_000; // Chromium cannot capture much taller images in one piece

function parseArgs(argv) {
  const opts = { notebooks: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--base') opts.base = value().replace(/\/+$/, '');
    else if (a === '--root') opts.root = resolve(value());
    else if (a === '--out') opts.out = resolve(value());
    else if (a === '--chromium') opts.chromium = value();
    else if (a === '--control') opts.control = value();
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else opts.notebooks.push(a);
  }
  for (const k of ['base', 'root', 'out', 'chromium']) {
    if (!opts[k]) throw new Error(`--${k} is required`);
  }
  opts.token = process.env.JUPYTER_TOKEN || '';
  if (!opts.token) throw new Error('$JUPYTER_TOKEN is not set');
  return opts;
}

const text = (v) => (Array.isArray(v) ? v.join('') : v || '');

function decodeEntities(s) {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attr(tag, name) {
  const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i'));
  return m ? decodeEntities(m[1] ?? m[2] ?? m[3] ?? '') : null;
}

const IMAGE_MIMES = ['image/png', 'image/jpeg', 'image/gif', 'image/svg+xml'];

/** The outermost <svg> elements of an HTML text: [{alt}], alt from aria-label or <title>. */
function inlineSvgs(html) {
  const found = [];
  let depth = 0;
  for (const m of html.matchAll(/<(\/?)svg\b[^>]*>/gi)) {
    if (m[1]) {
      depth = Math.max(0, depth - 1);
      continue;
    }
    if (depth === 0) {
      const title = html.slice(m.index).match(/^<svg\b[^>]*>\s*<title[^>]*>([^<]*)<\/title>/i);
      found.push({ alt: attr(m[0], 'aria-label') || (title ? decodeEntities(title[1]).trim() : null) });
    }
    if (!/\/>$/.test(m[0])) depth++;
  }
  return found;
}

/** The charts a notebook's JSON holds: [{cell, output, alt, kind}], in document order. An inline
 * <svg> counts as a chart too: JupyterLab strips it from an untrusted notebook, so it fails. */
export function chartsInJson(nb) {
  const charts = [];
  nb.cells.forEach((cell, ci) => {
    if (cell.cell_type !== 'code') return;
    (cell.outputs || []).forEach((o, oi) => {
      const data = o.data || {};
      const html = text(data['text/html']);
      if (html) {
        for (const m of html.matchAll(/<img\b[^>]*>/gi)) {
          const src = attr(m[0], 'src') || '';
          if (/^data:image\//i.test(src.trim())) {
            charts.push({ cell: ci, output: oi, alt: attr(m[0], 'alt'), kind: 'text/html <img>' });
          }
        }
        for (const svg of inlineSvgs(html)) {
          charts.push({ cell: ci, output: oi, alt: svg.alt, kind: 'text/html inline <svg>' });
        }
        return; // JupyterLab shows the text/html; an image beside it would not be displayed
      }
      const mime = IMAGE_MIMES.find((m) => data[m]);
      if (mime) {
        charts.push({ cell: ci, output: oi, alt: text(data['text/plain']).trim() || null, kind: mime });
      }
    });
  });
  return charts;
}

const describe = (chart) =>
  chart.alt ? `"${chart.alt}" (${chart.kind})` : `(no alt text; ${chart.kind}, output ${chart.output})`;

async function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Closes JupyterLab's dialogs (kernel not found / select kernel) without starting a kernel. */
async function dismissDialogs(page, log) {
  for (let round = 0; round < 10; round++) {
    const dialog = page.locator('.jp-Dialog');
    if ((await dialog.count()) === 0) return;
    const title = (await dialog.first().locator('.jp-Dialog-header').innerText().catch(() => '')).trim();
    const noKernel = dialog.first().getByRole('button', { name: /no kernel|cancel|dismiss|close/i });
    if ((await noKernel.count()) > 0) {
      const label = (await noKernel.first().innerText()).trim();
      await noKernel.first().click({ timeout: 5_000 });
      log(`dismissed the dialog "${title}" with "${label}"`);
    } else {
      await page.keyboard.press('Escape');
      log(`dismissed the dialog "${title}" with Escape`);
    }
    await page.waitForTimeout(300);
  }
  throw new Error('a dialog kept coming back after 10 dismissals');
}

/** Waits until every cell is in the page and every code cell that has outputs in the JSON shows them. */
async function waitRendered(page, nb) {
  const withOutputs = nb.cells
    .map((c, i) => (c.cell_type === 'code' && (c.outputs || []).length ? i : -1))
    .filter((i) => i >= 0);
  await page.waitForFunction(
    ({ cellCount, withOutputs }) => {
      const cells = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell');
      if (cells.length !== cellCount) return false;
      return withOutputs.every((i) => cells[i].querySelector('.jp-OutputArea-child'));
    },
    { cellCount: nb.cells.length, withOutputs },
    { timeout: STEP_TIMEOUT_MS, polling: 250 },
  );
  // then until the number of images has not changed for a second (renderers are asynchronous)
  let last = -1;
  let stableSince = Date.now();
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const n = await page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img').count();
    if (n !== last) {
      last = n;
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= 1_000) {
      return;
    }
    await page.waitForTimeout(200);
  }
}

/** What JupyterLab's model says about trust: code cells in all, and how many are trusted. */
async function trustState(page) {
  return page.evaluate(() => {
    const app = window.jupyterapp;
    const panel = app && app.shell && app.shell.currentWidget;
    const model = panel && panel.content && panel.content.model;
    if (!model || !model.cells) return null;
    let total = 0;
    let trusted = 0;
    for (let i = 0; i < model.cells.length; i++) {
      const cell = model.cells.get(i);
      if (cell.type !== 'code') continue;
      total++;
      if (cell.trusted) trusted++;
    }
    const status = [...document.querySelectorAll('[title]')]
      .map((e) => e.getAttribute('title'))
      .find((t) => /^Notebook (not )?trusted/.test(t));
    return { total, trusted, status: status || null };
  });
}

/** The chart images in one cell's outputs, in order: what the page shows of each. */
async function renderedImages(page, cellIndex) {
  const cell = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell').nth(cellIndex);
  const imgs = cell.locator('.jp-OutputArea-output img');
  const out = [];
  for (let k = 0; k < (await imgs.count()); k++) {
    const img = imgs.nth(k);
    const src = (await img.getAttribute('src')) || '';
    if (!/^data:image\//i.test(src)) continue;
    await img.scrollIntoViewIfNeeded({ timeout: STEP_TIMEOUT_MS });
    const info = await img.evaluate(async (el) => {
      let decoded = true;
      try {
        await el.decode();
      } catch {
        decoded = false;
      }
      const r = el.getBoundingClientRect();
      return {
        alt: el.getAttribute('alt'),
        naturalWidth: el.naturalWidth,
        naturalHeight: el.naturalHeight,
        width: r.width,
        height: r.height,
        decoded,
        visible: getComputedStyle(el).visibility !== 'hidden' && getComputedStyle(el).display !== 'none',
      };
    });
    out.push({ locator: img, ...info });
  }
  return out;
}

/** The notebook's scrolling element, and the height of its cells (without the room JupyterLab
 * leaves to scroll past the end, which grows with the window). */
async function measure(page) {
  const scroller = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer').first();
  const m = await scroller.evaluate((el) => {
    const cells = el.querySelectorAll('.jp-Cell');
    const last = cells[cells.length - 1];
    const bottom = last ? last.getBoundingClientRect().bottom - el.getBoundingClientRect().top + el.scrollTop : el.scrollHeight;
    return { contentHeight: Math.ceil(bottom) + 20, clientHeight: el.clientHeight };
  });
  return { scroller, ...m };
}

/** Makes the window as tall as the notebook (up to MAX_SHOT_HEIGHT), so that screenshots show it
 * whole and no toolbar covers a chart. Outputs that scroll grow with the window, so it measures
 * again until the cells fit. */
async function fitViewport(page) {
  for (let round = 0; round < 4; round++) {
    const { contentHeight, clientHeight } = await measure(page);
    const height = page.viewportSize().height;
    if (contentHeight <= clientHeight || height >= MAX_SHOT_HEIGHT) return;
    const chrome = height - clientHeight; // menus, toolbar, status bar
    await page.setViewportSize({ width: VIEWPORT.width, height: Math.min(contentHeight + chrome, MAX_SHOT_HEIGHT) });
    await page.waitForTimeout(500); // JupyterLab lays out again on resize
  }
}

/** Screenshots of the whole notebook: one image, or several when it is very tall. */
async function notebookScreenshots(page, outBase) {
  const { scroller, contentHeight, clientHeight } = await measure(page);
  const parts = Math.min(20, Math.max(1, Math.ceil(contentHeight / clientHeight)));
  if (process.env.BROWSER_CHECK_VERBOSE) console.log(`[browser]   ${outBase}: cells ${contentHeight} px, window ${clientHeight} px, ${parts} screenshot(s)`);
  const files = [];
  for (let part = 1; part <= parts; part++) {
    await scroller.evaluate((el, y) => {
      el.scrollTop = y;
    }, (part - 1) * clientHeight);
    await page.waitForTimeout(200);
    const file = part === 1 ? `${outBase}.png` : `${outBase}-${part}.png`;
    await page.screenshot({ path: file, timeout: STEP_TIMEOUT_MS });
    files.push(file);
  }
  return files;
}

async function checkNotebook(context, opts, rel, { control = false } = {}) {
  const name = basename(rel, '.ipynb');
  const failures = [];
  const fail = (msg) => failures.push(`${rel}: ${msg}`);
  const log = (msg) => console.log(`[browser]   ${rel}: ${msg}`);
  const nb = JSON.parse(readFileSync(join(opts.root, rel), 'utf8'));
  // the control's inline <svg> is meant to be stripped: only its <img> counts there
  const charts = chartsInJson(nb).filter((c) => !control || c.kind !== 'text/html inline <svg>');
  const where = (ci) => {
    const first = text(nb.cells[ci].source).trim().split('\n')[0] || '(empty)';
    return `cell ${ci} (\`${first.length > 60 ? `${first.slice(0, 60)}...` : first}\`)`;
  };
  for (const c of charts) {
    // (JupyterLab shows an <img> without alt as alt="Image", so the JSON is where this shows)
    if (c.kind !== 'text/html inline <svg>' && (!c.alt || !c.alt.trim())) {
      fail(`${where(c.cell)}: a chart (${c.kind}, output ${c.output}) has no alt text in the JSON`);
    }
  }

  const t0 = Date.now();
  const phases = [];
  const phase = (what) => phases.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  const page = await context.newPage();
  await page.setViewportSize(VIEWPORT);
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e.message || e).split('\n')[0]));
  try {
    // A workspace of its own per notebook, so nothing opened before comes back.
    const ws = `check-${name.replace(/[^A-Za-z0-9_-]/g, '-')}`;
    const url = `${opts.base}/lab/workspaces/${ws}/tree/${rel.split('/').map(encodeURIComponent).join('/')}?reset&token=${encodeURIComponent(opts.token)}`;
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 60_000 });
    await page.waitForSelector('.jp-NotebookPanel .jp-Notebook .jp-Cell', { timeout: 60_000 });
    phase('lab');
    await waitRendered(page, nb);
    phase('rendered');
    // The kit's notebooks ask for the Rust kernel, which is not installed here: JupyterLab may
    // ask which kernel to use. Answer "No Kernel"; give a late dialog a moment to appear.
    await page.waitForTimeout(1_500);
    await dismissDialogs(page, log);

    phase('dialogs');
    // the notebook at full width (the file browser is of no interest here)
    await page.evaluate(() => window.jupyterapp && window.jupyterapp.shell.collapseLeft());
    const trust = await trustState(page);
    if (!trust) fail('could not read the notebook model (window.jupyterapp): cannot tell whether it is trusted');
    else if (trust.trusted > 0) {
      fail(`${trust.trusted} of ${trust.total} code cells are trusted: the check must see the notebook as a fresh clone does (untrusted)`);
    } else if (trust.status && !/^Notebook not trusted/.test(trust.status)) {
      fail(`JupyterLab's status bar says "${trust.status}"`);
    }

    // Chart by chart, cell by cell.
    const byCell = new Map();
    for (const c of charts) byCell.set(c.cell, [...(byCell.get(c.cell) || []), c]);
    const cells = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell');
    const codeWithImages = [];
    for (let i = 0; i < nb.cells.length; i++) {
      if (nb.cells[i].cell_type === 'code' && (byCell.has(i) || (await cells.nth(i).locator('.jp-OutputArea-output img').count()) > 0)) {
        codeWithImages.push(i);
      }
    }
    let rendered = 0;
    let minW = Infinity;
    let minH = Infinity;
    const shots = [];
    for (const ci of codeWithImages) {
      const want = byCell.get(ci) || [];
      const got = await renderedImages(page, ci);
      if (got.length < want.length) {
        const renderedAlts = new Set(got.map((g) => g.alt));
        const missing = want.filter((w) => !renderedAlts.has(w.alt));
        const list = (missing.length ? missing : want.slice(got.length)).map(describe).join(', ');
        const why = missing.some((m) => m.kind === 'text/html inline <svg>')
          ? 'JupyterLab strips inline <svg> from untrusted notebooks: show charts as <img src="data:image/svg+xml,...">'
          : 'stripped from the untrusted notebook, or not rendered';
        fail(`${where(ci)}: ${want.length} chart(s) in the JSON, ${got.length} shown; not shown: ${list} (${why})`);
      } else if (got.length > want.length) {
        fail(`${where(ci)}: ${got.length} chart images shown, ${want.length} in the JSON`);
      }
      for (let k = 0; k < got.length; k++) {
        const g = got[k];
        // one for one when the counts agree; otherwise match by alt text
        const w = got.length === want.length ? want[k] : want.find((x) => x.alt && x.alt === g.alt);
        const label = w ? describe(w) : g.alt ? `"${g.alt}"` : `image ${k + 1}`;
        rendered++;
        if (process.env.BROWSER_CHECK_VERBOSE) {
          log(`cell ${ci} chart ${k + 1}: alt ${JSON.stringify(g.alt)}, natural ${g.naturalWidth}x${g.naturalHeight}, shown ${g.width}x${g.height}`);
        }
        if (!g.alt || !g.alt.trim()) fail(`${where(ci)}: chart ${label} is shown without alt text`);
        else if (w && w.alt && g.alt !== w.alt) fail(`${where(ci)}: chart ${k + 1} has alt "${g.alt}" in the page, "${w.alt}" in the JSON`);
        if (!g.decoded || g.naturalWidth <= 0 || g.naturalHeight <= 0) {
          fail(`${where(ci)}: chart ${label} did not load as an image (naturalWidth ${g.naturalWidth}, naturalHeight ${g.naturalHeight}, decode ${g.decoded ? 'ok' : 'failed'})`);
        }
        if (!(g.width > 0 && g.height > 0) || !g.visible) {
          fail(`${where(ci)}: chart ${label} is shown at ${g.width}x${g.height} px${g.visible ? '' : ' (hidden)'}`);
        }
        minW = Math.min(minW, g.width);
        minH = Math.min(minH, g.height);
        if (g.width > 0 && g.height > 0) shots.push({ locator: g.locator, label });
      }
    }

    if (control) {
      const svgs = await page
        .locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output svg')
        .count();
      if (svgs > 0) {
        fail(`the control notebook's inline <svg> was rendered: JupyterLab treats notebooks as trusted here, so this check would not show what a reader of a fresh clone sees`);
      }
      if (rendered !== charts.length || charts.length === 0) {
        fail(`the control notebook's <img> chart was not rendered untrusted`);
      }
      if (failures.length === 0) {
        console.log(`[browser] control: untrusted (0 of ${trust.total} code cells trusted), inline <svg> stripped, <img> data: URI shown`);
      }
    } else {
      phase('charts');
      await fitViewport(page);
      for (const [k, { locator, label }] of shots.entries()) {
        await locator
          .screenshot({ path: join(opts.out, `${name}--chart-${k + 1}.png`), timeout: STEP_TIMEOUT_MS })
          .catch((e) => log(`no screenshot of chart ${label}: ${e.message.split('\n')[0]}`));
      }
      const files = await notebookScreenshots(page, join(opts.out, name));
      phase('screenshots');
      if (process.env.BROWSER_CHECK_VERBOSE) log(phases.join(', '));
      const size = rendered ? `smallest chart ${Math.round(minW)}x${Math.round(minH)} px` : 'no charts';
      const trustText = trust
        ? `${trust.trusted ? 'TRUSTED' : 'untrusted'} (${trust.trusted} of ${trust.total} code cells trusted${trust.status ? `; status bar: "${trust.status}"` : ''})`
        : 'trust unknown';
      console.log(
        `[browser] ${rel}: ${charts.length} chart(s) in the JSON, ${rendered} rendered, ${size}; ${trustText}; ` +
          `screenshot ${files.map((f) => f.replace(`${process.cwd()}/`, '')).join(', ')}` +
          (shots.length ? ` (+${shots.length} chart image(s))` : ''),
      );
    }
    if (pageErrors.length) log(`page errors (not failures): ${[...new Set(pageErrors)].slice(0, 5).join(' | ')}`);
  } catch (e) {
    fail(`${e.message.split('\n')[0]}`);
    await page
      .screenshot({ path: join(opts.out, `${name}-FAILED.png`), timeout: 10_000 })
      .then(() => log(`screenshot of the failure: ${join(opts.out, `${name}-FAILED.png`)}`))
      .catch(() => {});
  } finally {
    await page.close().catch(() => {});
  }
  return failures;
}

async function runningKernels(opts) {
  const res = await fetch(`${opts.base}/api/kernels`, {
    headers: { Authorization: `token ${opts.token}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`GET /api/kernels answered ${res.status}`);
  return res.json();
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.notebooks.length === 0) throw new Error('no notebooks given');
  mkdirSync(opts.out, { recursive: true });
  const nodeDir = process.env.PLAYWRIGHT_NODE_DIR || join(HERE, '..', '..', 'target', 'notebooks', 'browser-node');
  const { chromium } = createRequire(join(nodeDir, 'package.json'))('playwright-core');

  const browser = await chromium.launch({
    executablePath: opts.chromium,
    // a fresh, temporary profile: nothing cached, nothing remembered from another run
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
    timeout: 60_000,
  });
  const failures = [];
  try {
    // One context (so JupyterLab's scripts are fetched once); each notebook opens in a page and a
    // JupyterLab workspace of its own.
    const context = await browser.newContext({ viewport: VIEWPORT });
    console.log(`[browser] Chromium ${browser.version()}, playwright-core ${createRequire(join(nodeDir, 'package.json'))('playwright-core/package.json').version}`);
    const jobs = [];
    if (opts.control) jobs.push([opts.control, { control: true }]);
    for (const rel of opts.notebooks) jobs.push([rel, {}]);
    for (const [rel, how] of jobs) {
      try {
        failures.push(...(await withTimeout(checkNotebook(context, opts, rel, how), NOTEBOOK_TIMEOUT_MS, `checking ${rel}`)));
      } catch (e) {
        failures.push(`${rel}: ${e.message}`);
      }
    }
    const kernels = await runningKernels(opts);
    if (kernels.length) {
      failures.push(`${kernels.length} kernel(s) were started (${kernels.map((k) => k.name).join(', ')}): the check must not run any code`);
    }
  } finally {
    await withTimeout(browser.close(), 15_000, 'closing Chromium').catch((e) => console.error(`[browser] ${e.message}`));
  }
  if (failures.length) {
    console.error(`\n[browser] ${failures.length} failure(s):`);
    for (const f of failures) console.error(`  - ${f}`);
    console.error(`\nScreenshots are in ${opts.out}.`);
    process.exit(1);
  }
  console.log(`[browser] ${opts.notebooks.length} notebook(s): every chart is shown, untrusted; screenshots in ${opts.out}`);
}

main().catch((e) => {
  console.error(`[browser] ${e.stack || e.message}`);
  process.exit(2);
});
