// Browser test of the live case discussion: two people from two agencies on
// the same case page in headless Chromium. One sends through the page's form
// (over the websocket, no reload); the other sees it arrive live; the sender
// sees the read receipt. Run against a development server with demo data:
//
//   CONFER_URL=https://127.0.0.1:8443 ARTIFACT_DIR=/tmp/shots node live.mjs
//
// Last line: "N passed, M failed"; exit status 1 if anything failed.

import { mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const BASE_URL = (process.env.CONFER_URL || 'https://127.0.0.1:8443').replace(/\/+$/, '')
const ARTIFACT_DIR = process.env.ARTIFACT_DIR || mkdtempSync(join(tmpdir(), 'confer-live-'))
mkdirSync(ARTIFACT_DIR, { recursive: true })
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

let passed = 0
let failed = 0
async function check (name, fn) {
  try {
    const problem = await fn()
    if (problem) throw new Error(problem)
    passed += 1
    console.log(`ok   - ${name}`)
  } catch (error) {
    failed += 1
    console.log(`FAIL - ${name}\n       ${String(error && error.message ? error.message : error).split('\n').join('\n       ')}`)
  }
}

async function signedIn (browser, name) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true })
  const page = await context.newPage()
  const errors = []
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()) })
  page.on('pageerror', (e) => errors.push(String(e)))
  await page.goto(`${BASE_URL}/sign-in`)
  await page.getByRole('button', { name: `Continue as ${name}` }).click()
  await page.waitForURL(/\/cases$/)
  await page.getByRole('link', { name: 'Lily Ashworth' }).click()
  await page.waitForURL(/\/cases\/[0-9a-f-]+$/)
  await page.locator('#confer-status', { hasText: 'Live' }).waitFor({ timeout: 10000 })
  return { context, page, errors }
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: ARGS })
try {
  const sam = await signedIn(browser, 'Sam Patel')
  const tom = await signedIn(browser, 'Tom Evans')
  const text = `Live check ${Date.now()}: can school confirm Lily attended today?`

  await check('both pages connect live over the websocket', async () => {
    await sam.page.locator('#confer-presence', { hasText: 'Tom Evans' }).waitFor({ timeout: 10000 })
  })
  await check('a message sent from the form appears on the other agency\'s page without a reload', async () => {
    const before = tom.page.url()
    await sam.page.fill('#body', text)
    await sam.page.click('#confer-message-form button[type=submit]')
    await tom.page.locator('.confer-message__body', { hasText: text }).waitFor({ timeout: 10000 })
    if (tom.page.url() !== before) return 'the receiving page navigated'
    const value = await sam.page.inputValue('#body')
    if (value !== '') return 'the sender\'s box was not cleared'
  })
  await check('the sender sees that the school has read it', async () => {
    await sam.page.locator('.confer-message--own .confer-read-by', { hasText: 'Tom Evans (Riverside Academy)' })
      .last().waitFor({ timeout: 10000 })
  })
  await check('after a reload the message is in the history, with the read receipt', async () => {
    await sam.page.reload()
    await sam.page.locator('.confer-message__body', { hasText: text }).waitFor({ timeout: 10000 })
    await sam.page.locator('.confer-read-by', { hasText: 'Tom Evans' }).last().waitFor({ timeout: 10000 })
  })
  await check('no console errors on either page', async () => {
    const all = [...sam.errors, ...tom.errors]
    if (all.length) return all.join('\n')
  })
  await sam.page.screenshot({ path: join(ARTIFACT_DIR, 'live-sam.png'), fullPage: true })
  await tom.page.screenshot({ path: join(ARTIFACT_DIR, 'live-tom.png'), fullPage: true })
} finally {
  await browser.close()
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
