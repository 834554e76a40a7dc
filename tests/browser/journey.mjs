// What the journey tests (meetings.mjs, missing.mjs) share: numbered checks
// that report "ok"/"FAIL" lines and a final "N passed, M failed", people
// signed in through the development sign-in in their own browser context,
// form submission that reports a page's error summary, screenshots, and
// London wall-clock dates.

import { mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const BASE_URL = (process.env.CONFER_URL || 'https://127.0.0.1:8443').replace(/\/+$/, '')
export const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

/** The screenshot folder: ARTIFACT_DIR, or a fresh temporary one named after the journey. */
export function artifactDir (journey) {
  const dir = process.env.ARTIFACT_DIR || mkdtempSync(join(tmpdir(), `confer-${journey}-`))
  mkdirSync(dir, { recursive: true })
  return dir
}

/** Counts checks; `check` runs one, `skip` fails one that cannot run. */
export function reporter () {
  const r = { passed: 0, failed: 0 }
  /** One check: `fn` returns nothing (pass) or a failure description, or throws. */
  r.check = async (name, fn) => {
    try {
      const problem = await fn()
      if (problem) throw new Error(problem)
      r.passed += 1
      console.log(`ok   - ${name}`)
      return true
    } catch (error) {
      r.failed += 1
      console.log(`FAIL - ${name}\n       ${String(error && error.message ? error.message : error).split('\n').join('\n       ')}`)
      return false
    }
  }
  /** A check that cannot run because an earlier step failed. */
  r.skip = (name, why) => {
    r.failed += 1
    console.log(`FAIL - ${name}\n       not run: ${why}`)
    return false
  }
  /** The journey stopped on an exception. */
  r.crashed = (journey, error) => {
    r.failed += 1
    console.log(`FAIL - the ${journey} journey ran to completion\n       ${String(error && error.stack ? error.stack : error).split('\n').join('\n       ')}`)
  }
  /** Print the totals and exit 1 if anything failed. */
  r.finish = (journey, started) => {
    console.log(`${journey} journey took ${((Date.now() - started) / 1000).toFixed(1)} s`)
    console.log(`${r.passed} passed, ${r.failed} failed`)
    process.exit(r.failed ? 1 : 0)
  }
  return r
}

export async function shot (dir, page, file) {
  try {
    await page.screenshot({ path: join(dir, file), fullPage: true })
  } catch (error) {
    console.log(`       (could not save ${file}: ${error.message})`)
  }
}

/** A separate browser context signed in through the development sign-in. */
export async function signIn (browser, name, { javaScriptEnabled = true } = {}) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true, // the development server's certificate is self-signed
    javaScriptEnabled,
    viewport: { width: 1280, height: 900 }
  })
  const page = await context.newPage()
  page.setDefaultTimeout(15000)
  const problems = []
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`) })
  page.on('pageerror', (e) => problems.push(`uncaught exception: ${e.message}`))
  page.on('response', (r) => {
    // A refused form comes back as 400 with its message: the step's own
    // check reports the message, and this list reports the status too.
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`)
  })
  page.on('load', async () => {
    // A sealed column (encryption at rest) must be opened before it is shown.
    try {
      if ((await page.content()).includes('cf1:k')) problems.push(`a sealed value is shown on ${page.url()}`)
    } catch (error) { /* the page navigated on */ }
  })
  await page.goto(`${BASE_URL}/sign-in`)
  await Promise.all([
    page.waitForURL((url) => /^\/cases\/?$/.test(url.pathname)),
    page.getByRole('button', { name: `Continue as ${name}` }).click()
  ])
  return { name, context, page, problems }
}

/** Everyone's console errors, uncaught exceptions and 4xx/5xx responses, or null. */
export function pageProblems (people) {
  const all = people.flatMap((p) => p.problems.map((problem) => `${p.name}: ${problem}`))
  return all.length ? all.join('\n') : null
}

/** The message in a page's error summary, if it shows one. */
export async function pageError (page) {
  const summary = page.locator('.govuk-error-summary')
  if (await summary.count()) return (await summary.first().innerText()).replace(/\s+/g, ' ').trim()
  return null
}

/** Submits a form by clicking `button` and waits for the next page to load. */
export async function submit (page, button) {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), button.click()])
  const error = await pageError(page)
  return error ? `the page says: ${error} (${page.url()})` : null
}

/** London wall-clock date ("2026-05-20") and time ("10:05") of an instant. */
export function london (instant) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/London',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23'
  }).formatToParts(instant).map((p) => [p.type, p.value]))
  return { date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` }
}
