// Browser smoke test for a running Confer server.
//
//   cd tests/browser && npm ci --no-audit --no-fund
//   CONFER_URL=https://127.0.0.1:8443 ARTIFACT_DIR=/tmp/confer-browser node smoke.mjs
//
// Drives Debian's Chromium (CHROMIUM_PATH, default /usr/bin/chromium) through
// playwright-core and checks the page security policy, GOV.UK Frontend styling,
// that our script runs under the CSP, console/network errors, accessibility
// (axe-core) and the development sign-in flow. Every check counts as a pass or
// a failure; the last line is "N passed, M failed" and the exit status is 1 if
// anything failed. Full-page screenshots go to ARTIFACT_DIR.

import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const BASE_URL = (process.env.CONFER_URL || 'https://127.0.0.1:8443').replace(/\/+$/, '')
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const ARTIFACT_DIR = process.env.ARTIFACT_DIR || mkdtempSync(join(tmpdir(), 'confer-browser-'))
mkdirSync(ARTIFACT_DIR, { recursive: true })

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

// Flags that work on the CI machines. playwright-core itself adds --headless
// and a fresh temporary --user-data-dir (removed on close) for launch().
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync'
]

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

/** The sources of `directive` in each policy, or null where it is absent. */
function cspDirective (policies, directive) {
  return policies.map((policy) => {
    for (const part of policy.split(';')) {
      const [name, ...sources] = part.trim().split(/\s+/)
      if (name && name.toLowerCase() === directive) return sources
    }
    return null
  })
}

/**
 * Console errors, uncaught exceptions, failed requests and 4xx/5xx responses
 * seen by the page. `take()` returns what arrived since the previous call, so
 * that each visited page is judged on its own events.
 */
function watchProblems (page) {
  let problems = []
  page.on('console', (message) => {
    if (message.type() === 'error') {
      const where = message.location()
      problems.push(`console error: ${message.text()}${where.url ? ` (${where.url}:${where.lineNumber})` : ''}`)
    }
  })
  page.on('pageerror', (error) => problems.push(`uncaught exception: ${error.message}`))
  page.on('requestfailed', (request) => {
    problems.push(`request failed: ${request.method()} ${request.url()}: ${request.failure()?.errorText}`)
  })
  page.on('response', (response) => {
    if (response.status() >= 400) {
      problems.push(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`)
    }
  })
  return {
    take () {
      const taken = problems
      problems = []
      return taken
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

/** Checks 4 and 5 for the page currently shown. */
async function checkPageHealth (page, problems, label) {
  await check(`${label}: no console errors, failed requests or 4xx/5xx responses`, () => {
    const seen = problems.take()
    return seen.length ? seen.join('\n') : null
  })
  await check(`${label}: axe-core finds no serious or critical accessibility violations`, async () => {
    // page.evaluate runs through the DevTools protocol, so the page's CSP does
    // not block it (unlike addScriptTag, which inserts an inline <script>).
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
      await page.evaluate(AXE_SOURCE)
    }
    const violations = await page.evaluate(async () => {
      const results = await window.axe.run(document, { resultTypes: ['violations'] })
      return results.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        targets: v.nodes.slice(0, 5).map((node) => node.target.join(' '))
      }))
    })
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    for (const v of violations.filter((v) => !serious.includes(v))) {
      console.log(`       (axe, ${v.impact}: ${v.id} — ${v.help})`)
    }
    return serious.length
      ? serious.map((v) => `${v.impact}: ${v.id} — ${v.help} at ${v.targets.join(', ')}`).join('\n')
      : null
  })
  // Axe's own events are not the page's problems.
  problems.take()
}

async function main () {
  console.log(`Confer browser smoke test against ${BASE_URL}; screenshots in ${ARTIFACT_DIR}`)
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS })
  try {
    const context = await browser.newContext({
      ignoreHTTPSErrors: true, // the development server uses a self-signed certificate
      viewport: { width: 1280, height: 800 }
    })
    const page = await context.newPage()
    page.setDefaultTimeout(15000)
    const problems = watchProblems(page)

    // --- The start page --------------------------------------------------
    let response = null
    const loaded = await check('GET / responds 200', async () => {
      response = await page.goto(`${BASE_URL}/`)
      await settle(page)
      return response && response.status() === 200 ? null : `status ${response?.status()}`
    })
    await screenshot(page, 'start.png')

    // Check 1: the Content-Security-Policy.
    await check("GET / has a Content-Security-Policy with script-src 'self' and no 'unsafe-inline'", async () => {
      if (!response) return 'no response for /'
      const policies = await response.headerValues('content-security-policy')
      if (!policies.length) return 'no content-security-policy header'
      const scriptSrc = cspDirective(policies, 'script-src')
      const scriptSrcElem = cspDirective(policies, 'script-src-elem')
      if (!scriptSrc.some((sources) => sources && sources.includes("'self'"))) {
        return `no script-src 'self' in: ${policies.join(' | ')}`
      }
      if ([...scriptSrc, ...scriptSrcElem].some((sources) => sources && sources.includes("'unsafe-inline'"))) {
        return `script-src allows 'unsafe-inline': ${policies.join(' | ')}`
      }
      return null
    })

    if (loaded) {
      // Check 2: GOV.UK Frontend styles, with our system font stack.
      await check('the page links /assets/app.css and it loaded', () =>
        page.evaluate(() => {
          const links = [...document.querySelectorAll('link[rel~="stylesheet"]')]
          const link = links.find((l) => (l.getAttribute('href') || '').startsWith('/assets/app.css'))
          if (!link) return `no <link rel="stylesheet" href="/assets/app.css…">; stylesheets: ${links.map((l) => l.getAttribute('href')).join(', ') || 'none'}`
          if (!link.sheet || link.sheet.cssRules.length === 0) return `${link.href} did not load (no CSS rules)`
          return null
        }))
      await check('the page is styled by GOV.UK Frontend', () =>
        page.evaluate(() => {
          const problems = []
          const h1 = document.querySelector('h1')
          if (!h1) {
            problems.push('no h1')
          } else {
            const style = getComputedStyle(h1)
            if (!/\bgovuk-heading-(xl|l)\b/.test(h1.className)) problems.push(`h1 class is "${h1.className}", not govuk-heading-xl or -l`)
            if (Number(style.fontWeight) !== 700) problems.push(`h1 font-weight ${style.fontWeight}, not 700`)
            if (parseFloat(style.fontSize) < 32) problems.push(`h1 font-size ${style.fontSize} < 32px`)
            if (!style.fontFamily.includes('system-ui')) problems.push(`h1 font-family is ${style.fontFamily}, not our system font stack`)
          }
          const container = document.querySelector('.govuk-width-container')
          if (!container) problems.push('no .govuk-width-container')
          else if (getComputedStyle(container).maxWidth !== '960px') problems.push(`.govuk-width-container max-width ${getComputedStyle(container).maxWidth}, not 960px`)
          const header = document.querySelector('.govuk-header')
          if (!header) problems.push('no .govuk-header')
          else if (/^(transparent|rgba\(0, 0, 0, 0\))$/.test(getComputedStyle(header).backgroundColor)) problems.push('.govuk-header has no background colour')
          return problems.length ? problems.join('\n') : null
        }))
      await check('no GDS Transport font and no font files', () =>
        page.evaluate(() => {
          const problems = []
          for (const element of [document.body, document.querySelector('h1')].filter(Boolean)) {
            const family = getComputedStyle(element).fontFamily
            if (/GDS Transport/i.test(family)) problems.push(`${element.tagName} font-family: ${family}`)
          }
          for (const sheet of document.styleSheets) {
            let rules = []
            try { rules = [...sheet.cssRules] } catch { continue }
            for (const rule of rules) {
              if (rule.constructor.name === 'CSSFontFaceRule') problems.push(`@font-face in ${sheet.href}: ${rule.cssText.slice(0, 120)}`)
            }
          }
          const fonts = performance.getEntriesByType('resource').filter((e) => /\.(woff2?|ttf|otf|eot)(\?|$)/i.test(e.name))
          for (const font of fonts) problems.push(`font file requested: ${font.name}`)
          return problems.length ? problems.join('\n') : null
        }))

      // Check 3: our module script ran under the CSP.
      await check('app.js ran: <body> has class govuk-frontend-supported', async () =>
        (await page.evaluate(() => document.body.classList.contains('govuk-frontend-supported')))
          ? null
          : `body class is "${await page.evaluate(() => document.body.className)}"`)
    }
    // Checks 4 and 5 (not on Chromium's own error page if / did not load).
    if (response) await checkPageHealth(page, problems, '/')

    // --- Check 6: the development sign-in flow ---------------------------
    const buttons = page.locator('button.govuk-button').filter({ hasText: /^\s*Continue as/ })
    let signIn = null
    const signInPage = await check('GET /sign-in responds 200 with "Continue as" buttons', async () => {
      signIn = await page.goto(`${BASE_URL}/sign-in`)
      await settle(page)
      await screenshot(page, 'sign-in.png')
      if (!signIn || signIn.status() !== 200) return `GET /sign-in: status ${signIn?.status()}`
      const count = await buttons.count()
      if (count === 0) return 'no button.govuk-button whose text starts with "Continue as"'
      console.log(`       (${count} "Continue as" button(s))`)
      return null
    })
    if (signIn) await checkPageHealth(page, problems, '/sign-in')

    const signedIn = signInPage && await check('the first "Continue as" button signs in and lands on /cases', async () => {
      console.log(`       (clicking "${(await buttons.first().innerText()).trim()}")`)
      await Promise.all([
        page.waitForURL((url) => /^\/cases\/?$/.test(url.pathname), { waitUntil: 'load' }),
        buttons.first().click()
      ])
      await settle(page)
      return null
    })

    if (signedIn) {
      await screenshot(page, 'cases.png')
      const caseList = await check('/cases has an h1 and a table.govuk-table with case links', () =>
        page.evaluate(() => {
          const h1 = document.querySelector('h1')
          if (!h1 || !h1.textContent.trim()) return 'no non-empty h1'
          const links = document.querySelectorAll('table.govuk-table a.confer-case-link')
          if (links.length === 0) return 'no a.confer-case-link inside a table.govuk-table'
          return null
        }))
      await checkPageHealth(page, problems, '/cases')

      if (caseList) {
        const casePage = await check('following the first case link opens a case page with an h1', async () => {
          const link = page.locator('table.govuk-table a.confer-case-link').first()
          console.log(`       (opening "${(await link.innerText()).trim()}")`)
          await Promise.all([
            page.waitForURL((url) => /^\/cases\/.+/.test(url.pathname), { waitUntil: 'load' }),
            link.click()
          ])
          await settle(page)
          await screenshot(page, 'case.png')
          const h1 = await page.evaluate(() => document.querySelector('h1')?.textContent.trim() || '')
          return h1 ? null : `no non-empty h1 on ${page.url()}`
        })
        if (casePage) await checkPageHealth(page, problems, new URL(page.url()).pathname)
      }
    }
    await context.close()
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
