// Browser test of OpenID Connect sign-in: headless Chromium signs in to a
// running Confer through a real provider (tests/oidc-provider/provider.mjs,
// the npm oidc-provider with its development login and consent pages) and
// back. Confer must run in development mode (demo people) with an
// [[auth.oidc]] block for the agency "Northshire Police" pointing at the
// provider, with the redirect URI <CONFER_URL>/sign-in/oidc/<id>/callback
// registered there (docs/auth.md; .ci/run does all of this):
//
//   CONFER_URL=https://127.0.0.1:8443 ARTIFACT_DIR=/tmp/shots node oidc.mjs
//
// Optional: OIDC_ISSUER (the provider's issuer, to check the browser really
// went there), CHROMIUM_PATH (default /usr/bin/chromium).
//
// Checks that DC Lee Harris (Northshire Police) signs in at the provider,
// lands on /cases seeing his cases and not others', and signs out; and that
// Sam Patel (a council social worker) signing in through the police provider
// is refused with a plain 403 page and no session. Only Confer's pages are
// held to "no console errors": the provider's development pages are not ours
// (they load a web font from Google, which this test blocks, as it blocks
// everything off loopback). Last line: "N passed, M failed"; exit status 1 if
// anything failed. Full-page screenshots of every page go to ARTIFACT_DIR.

import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const BASE_URL = (process.env.CONFER_URL || 'https://127.0.0.1:8443').replace(/\/+$/, '')
const CONFER_ORIGIN = new URL(BASE_URL).origin
const ISSUER = (process.env.OIDC_ISSUER || '').replace(/\/+$/, '')
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const ARTIFACT_DIR = process.env.ARTIFACT_DIR || mkdtempSync(join(tmpdir(), 'confer-oidc-'))
mkdirSync(ARTIFACT_DIR, { recursive: true })
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

// The same flags as smoke.mjs and live.mjs.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

const SESSION_COOKIE = '__Host-confer_session'
const FLOW_COOKIE = '__Host-confer_oidc'
const LEE = { email: 'lee.harris@northshire-police.example', name: 'DC Lee Harris', agency: 'Northshire Police' }
const SAM = { email: 'sam.patel@northshire-council.example' }
const LEES_CASES = ['Lily Ashworth', 'Kai Brennan']
const NOT_LEES_CASES = ['Noah Okoye']
// The "Sign in with …" button for the police provider, whatever its label
// ("Northshire Police", or the docs' "Northshire Police (local test provider)").
const PROVIDER_BUTTON = /^\s*Sign in with Northshire Police\b/

let passed = 0
let failed = 0

function pass (name) {
  passed += 1
  console.log(`ok   - ${name}`)
}

function fail (name, detail) {
  failed += 1
  console.log(`FAIL - ${name}`)
  // eslint-disable-next-line no-control-regex
  const text = String(detail).replace(/\x1b\[[0-9;]*m/g, '')
    // Callback URLs carry the authorization code and state: never print them.
    .replace(/([?&](?:code|state)=)[^&\s)]+/g, '$1…')
  for (const line of text.split('\n')) console.log(`       ${line}`)
}

/** Records one check: `fn` returns nothing (pass) or a failure description, or throws. */
async function check (name, fn) {
  try {
    const problem = await fn()
    if (problem) {
      fail(name, problem)
      return false
    }
    pass(name)
    return true
  } catch (error) {
    fail(name, error instanceof Error ? (error.stack || error.message) : error)
    return false
  }
}

function isConfer (url) {
  try {
    return new URL(url).origin === CONFER_ORIGIN
  } catch {
    return false
  }
}

function isLoopback (url) {
  try {
    const { hostname } = new URL(url)
    return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]'
  } catch {
    return false
  }
}

/**
 * A browser context of its own (own cookies at Confer and at the provider)
 * with one page, that lets nothing leave loopback and collects the problems
 * seen on Confer's pages: console errors, uncaught exceptions, failed
 * requests and 4xx/5xx responses. `take()` returns what arrived since the
 * previous call; `expect(test, status)` excuses one error response whose URL
 * passes `test`, and Chromium's console note about it.
 */
async function openPage (browser) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true, // the development server uses a self-signed certificate
    viewport: { width: 1280, height: 800 }
  })
  await context.route('**/*', (route) =>
    isLoopback(route.request().url()) ? route.continue() : route.abort('blockedbyclient'))
  const page = await context.newPage()
  page.setDefaultTimeout(15000)
  let problems = []
  const expected = []
  const excused = [] // expected error responses already seen
  const onConfer = (url) => isConfer(url) || isConfer(page.url())
  page.on('console', (message) => {
    const where = message.location().url || page.url()
    if (message.type() !== 'error' || !isConfer(where)) return
    // Chromium's own note on an error response that we expected (the status is checked).
    const status = /^Failed to load resource: the server responded with a status of (\d+)/.exec(message.text())
    if (status && [...expected, ...excused].some((e) => e.status === Number(status[1]) && e.test(where))) return
    problems.push(`console error on ${page.url()}: ${message.text()} (${where}:${message.location().lineNumber})`)
  })
  page.on('pageerror', (error) => {
    if (isConfer(page.url())) problems.push(`uncaught exception on ${page.url()}: ${error.message}`)
  })
  page.on('requestfailed', (request) => {
    let frameUrl = ''
    try { frameUrl = request.frame().url() } catch {}
    if (isConfer(request.url()) || isConfer(frameUrl)) {
      problems.push(`request failed: ${request.method()} ${request.url()}: ${request.failure()?.errorText}`)
    }
  })
  page.on('response', (response) => {
    const url = response.url()
    if (response.status() < 400 || !onConfer(url)) return
    const i = expected.findIndex((e) => e.status === response.status() && e.test(url))
    if (i >= 0) {
      excused.push(...expected.splice(i, 1))
      return
    }
    problems.push(`HTTP ${response.status()}: ${response.request().method()} ${url}`)
  })
  return {
    context,
    page,
    take () {
      const taken = problems
      problems = []
      return taken
    },
    expect (test, status) {
      expected.push({ test, status })
    }
  }
}

/** Lets late subresources, module scripts and their errors arrive. */
async function settle (page) {
  await page.waitForLoadState('load')
  await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {})
}

async function screenshot (page, file) {
  try {
    await page.screenshot({ path: join(ARTIFACT_DIR, file), fullPage: true })
  } catch (error) {
    console.log(`       (could not save ${file}: ${error.message})`)
  }
}

/** No console errors and so on, and no serious axe-core violations, on the Confer page shown. */
async function checkConferPage (tab, label) {
  await check(`${label}: no console errors, failed requests or 4xx/5xx responses`, () => {
    const seen = tab.take()
    return seen.length ? seen.join('\n') : null
  })
  await check(`${label}: axe-core finds no serious or critical accessibility violations`, async () => {
    if (!(await tab.page.evaluate(() => typeof window.axe === 'object'))) await tab.page.evaluate(AXE_SOURCE)
    const violations = await tab.page.evaluate(async () => {
      const results = await window.axe.run(document, { resultTypes: ['violations'] })
      return results.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }))
    })
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    return serious.length ? serious.map((v) => `${v.impact}: ${v.id} — ${v.help} at ${v.targets.join(', ')}`).join('\n') : null
  })
  tab.take()
}

const mainText = (page) => page.evaluate(() => (document.querySelector('main') || document.body).innerText)
const pathOf = (page) => new URL(page.url()).pathname

/**
 * From Confer's sign-in page through the provider's login and consent pages,
 * as `email` (any password), until the browser is back at Confer.
 * `shots` names the screenshots. Returns Confer's response to the callback.
 */
async function signInAtProvider (tab, email, shots) {
  const { page } = tab
  let callback = null
  const started = await check(`${shots}: /sign-in shows a "Sign in with Northshire Police" button`, async () => {
    const response = await page.goto(`${BASE_URL}/sign-in`)
    await settle(page)
    await screenshot(page, `${shots}-1-sign-in.png`)
    if (!response || response.status() !== 200) return `GET /sign-in: status ${response?.status()}`
    const count = await page.getByRole('button', { name: PROVIDER_BUTTON }).count()
    if (count !== 1) return `${count} buttons named like ${PROVIDER_BUTTON}`
    return null
  })
  if (!started) return null
  await checkConferPage(tab, `${shots}: /sign-in`)

  const atLogin = await check(`${shots}: the button leads to the provider's login page`, async () => {
    const button = page.getByRole('button', { name: PROVIDER_BUTTON })
    console.log(`       (clicking "${(await button.innerText()).trim()}")`)
    await Promise.all([
      page.waitForURL((url) => !isConfer(url.href) && /\/interaction\//.test(url.pathname), { waitUntil: 'load' }),
      button.click()
    ])
    await settle(page)
    if (ISSUER && !page.url().startsWith(`${ISSUER}/`)) return `at ${page.url()}, not under the issuer ${ISSUER}`
    if ((await page.locator('input[name="login"]').count()) !== 1) return `no login field at ${page.url()}`
    return null
  })
  if (!atLogin) return null

  const atConsent = await check(`${shots}: signing in at the provider as ${email} shows its consent page`, async () => {
    await page.fill('input[name="login"]', email)
    await page.fill('input[name="password"]', 'any password will do')
    await screenshot(page, `${shots}-2-provider-login.png`)
    await Promise.all([
      page.waitForURL((url) => !isConfer(url.href) && /\/interaction\//.test(url.pathname), { waitUntil: 'load' }),
      page.locator('button[type="submit"]').click()
    ])
    await page.locator('input[name="prompt"][value="consent"]').waitFor({ state: 'attached', timeout: 10000 })
    await settle(page)
    await screenshot(page, `${shots}-3-provider-consent.png`)
    return null
  })
  if (!atConsent) return null

  await check(`${shots}: "Continue" at the provider comes back to Confer's callback`, async () => {
    const isCallback = (response) =>
      isConfer(response.url()) && /^\/sign-in\/oidc\/[^/]+\/callback$/.test(new URL(response.url()).pathname)
    const [response] = await Promise.all([
      page.waitForResponse(isCallback),
      page.getByRole('button', { name: 'Continue' }).click()
    ])
    callback = response
    await settle(page)
    // Only paths: the callback's query holds the (now used) code and state.
    console.log(`       (the callback answered ${response.status()}; now at ${new URL(page.url()).pathname})`)
    return null
  })
  return callback
}

async function sessionCookies (context) {
  return (await context.cookies(BASE_URL)).filter((c) => c.name === SESSION_COOKIE || c.name === FLOW_COOKIE)
}

async function main () {
  console.log(`Confer OpenID Connect browser test against ${BASE_URL}${ISSUER ? ` and ${ISSUER}` : ''}; screenshots in ${ARTIFACT_DIR}`)
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS })
  try {
    // --- DC Lee Harris signs in through the police provider ---------------
    const lee = await openPage(browser)
    const { page } = lee
    const callback = await signInAtProvider(lee, LEE.email, 'oidc-lee')
    const landed = callback && await check('Lee lands on /cases, signed in as DC Lee Harris', async () => {
      await screenshot(page, 'oidc-lee-4-cases.png')
      if (!isConfer(page.url()) || pathOf(page) !== '/cases') return `at ${page.url()} (callback status ${callback.status()})`
      const signedIn = await page.locator('.confer-signed-in').innerText().catch(() => '')
      if (!signedIn.includes(`Signed in as ${LEE.name}, ${LEE.agency}`)) return `header says "${signedIn.trim()}"`
      return null
    })
    if (landed) {
      await check('/cases lists Lee\'s cases (Lily Ashworth, Kai Brennan) and not Noah Okoye\'s', async () => {
        const children = await page.locator('table.govuk-table a.confer-case-link').allInnerTexts()
        const listed = children.map((c) => c.trim())
        const missing = LEES_CASES.filter((c) => !listed.includes(c))
        const text = await mainText(page)
        const leaked = NOT_LEES_CASES.filter((c) => listed.includes(c) || text.includes(c))
        const problems = []
        if (missing.length) problems.push(`missing: ${missing.join(', ')}`)
        if (leaked.length) problems.push(`shows a case Lee is not on: ${leaked.join(', ')}`)
        return problems.length ? `${problems.join('; ')} (listed: ${listed.join(', ') || 'none'})` : null
      })
      await check('the session cookie is set (Secure, HttpOnly) and the flow cookie is gone', async () => {
        const cookies = await sessionCookies(lee.context)
        const session = cookies.find((c) => c.name === SESSION_COOKIE)
        const problems = []
        if (!session || !session.value) problems.push(`no ${SESSION_COOKIE}`)
        else if (!session.secure || !session.httpOnly) problems.push(`${SESSION_COOKIE} secure=${session.secure} httpOnly=${session.httpOnly}`)
        if (cookies.some((c) => c.name === FLOW_COOKIE && c.value)) problems.push(`${FLOW_COOKIE} is still set`)
        return problems.length ? problems.join('; ') : null
      })
      await checkConferPage(lee, '/cases after OpenID Connect sign-in')

      const signedOut = await check('"Sign out" ends the session', async () => {
        await Promise.all([
          page.waitForURL((url) => isConfer(url.href) && url.pathname !== '/cases', { waitUntil: 'load' }),
          page.getByRole('button', { name: 'Sign out' }).click()
        ])
        await settle(page)
        await screenshot(page, 'oidc-lee-5-signed-out.png')
        if ((await sessionCookies(lee.context)).some((c) => c.name === SESSION_COOKIE && c.value)) return `${SESSION_COOKIE} is still set`
        return null
      })
      if (signedOut) {
        await check('after signing out, /cases redirects to /sign-in', async () => {
          await page.goto(`${BASE_URL}/cases`)
          await settle(page)
          await screenshot(page, 'oidc-lee-6-cases-after-sign-out.png')
          if (pathOf(page) !== '/sign-in') return `at ${page.url()}`
          const text = await mainText(page)
          const leaked = [...LEES_CASES, ...NOT_LEES_CASES].filter((c) => text.includes(c))
          return leaked.length ? `the sign-in page names ${leaked.join(', ')}` : null
        })
        await checkConferPage(lee, '/sign-in after signing out')
      }
    }
    await lee.context.close()

    // --- Sam Patel (council) is refused by the police provider -------------
    const sam = await openPage(browser)
    sam.expect((url) => /\/sign-in\/oidc\/[^/]+\/callback/.test(url), 403)
    const refused = await signInAtProvider(sam, SAM.email, 'oidc-sam')
    const refusal = refused && await check('Sam is refused: HTTP 403 with a plain-words page', async () => {
      await screenshot(sam.page, 'oidc-sam-4-refused.png')
      const problems = []
      if (refused.status() !== 403) problems.push(`callback status ${refused.status()}, not 403`)
      if (!isConfer(sam.page.url()) || !/\/callback$/.test(pathOf(sam.page))) problems.push(`at ${sam.page.url()}, not Confer's callback`)
      const h1 = (await sam.page.locator('h1').first().innerText().catch(() => '')).trim()
      if (h1 !== 'Your Confer account belongs to another agency') problems.push(`h1 is "${h1}"`)
      const text = await mainText(sam.page)
      for (const words of ['You have not been signed in', 'reference: wrong_agency', 'choose your own agency']) {
        if (!text.includes(words)) problems.push(`the page does not say "${words}"`)
      }
      for (const secret of ['code=', 'state=', 'eyJ', SAM.email]) {
        if (text.includes(secret)) problems.push(`the page shows "${secret}"`)
      }
      if ((await sam.page.locator('.confer-signed-in').count()) !== 0) problems.push('the header says someone is signed in')
      if ((await sam.page.getByRole('button', { name: 'Go back to sign in' }).count()) !== 1) problems.push('no "Go back to sign in" button')
      return problems.length ? problems.join('\n') : null
    })
    if (refusal) {
      await checkConferPage(sam, 'the refusal page')
      await check('the refusal set no session cookie and cleared the flow cookie', async () => {
        const cookies = (await sessionCookies(sam.context)).filter((c) => c.value)
        return cookies.length ? `cookies at Confer: ${cookies.map((c) => c.name).join(', ')}` : null
      })
      await check('after the refusal, /cases redirects to /sign-in', async () => {
        await sam.page.goto(`${BASE_URL}/cases`)
        await settle(sam.page)
        await screenshot(sam.page, 'oidc-sam-5-cases-after-refusal.png')
        return pathOf(sam.page) === '/sign-in' ? null : `at ${sam.page.url()}`
      })
      await checkConferPage(sam, '/sign-in after the refusal')
    }
    await sam.context.close()
  } finally {
    await browser.close()
  }
}

try {
  await main()
} catch (error) {
  fail('the browser test ran to completion', error instanceof Error ? (error.stack || error.message) : error)
}
console.log(`${passed} passed, ${failed} failed`)
process.exitCode = failed > 0 ? 1 : 0
