// Browser test of the missing-episode journey on server-rendered forms, about
// Kai Brennan (demo data): the police record that Kai went missing and came
// back; the lead social worker gives the return home interview to the
// commissioned interview service by email; its interviewer finds it on her
// dashboard, records two attempts to reach Kai and the interview; she records
// the findings and shares them with the school and the police, who each
// acknowledge them from their dashboards; two more episodes make three in 90
// days and Confer prompts a strategy discussion, which the social worker
// convenes from the prompt. Every step is a plain form post and a page load.
// Run against a development server with demo data:
//
//   CONFER_URL=https://127.0.0.1:8443 ARTIFACT_DIR=/tmp/shots node missing.mjs
//
// MISSING_JAVASCRIPT=off runs it with JavaScript disabled. Each run records
// new episodes and looks only at its own rows. Last line: "N passed, M
// failed"; exit status 1 if anything failed.

import { chromium } from 'playwright-core'
import { ARGS, BASE_URL, CHROMIUM, artifactDir, london, pageProblems, reporter, shot as shotIn, signIn as signInAs, submit } from './journey.mjs'

const ARTIFACT_DIR = artifactDir('missing')
const JAVASCRIPT = process.env.MISSING_JAVASCRIPT !== 'off'
const CHILD = 'Kai Brennan'
const SERVICE = 'Northshire Return Interview Service'
const INTERVIEWER = 'Casey Brooks'
const INTERVIEWER_EMAIL = 'casey.brooks@northshire-ris.example'
const HOUR = 3600000

const { check, skip, ...report } = reporter()
const shot = (page, file) => shotIn(ARTIFACT_DIR, page, file)
const signIn = (browser, name) => signInAs(browser, name, { javaScriptEnabled: JAVASCRIPT })

/** Opens Kai's case from /cases and returns its URL. */
async function openCase (person) {
  await person.page.goto(`${BASE_URL}/cases`)
  await Promise.all([
    person.page.waitForURL(/\/cases\/[^/]+$/),
    person.page.getByRole('link', { name: CHILD }).click()
  ])
  return person.page.url()
}

/** Records an episode reported `hoursAgo` and, if `back`, a return `backHoursAgo`; returns the episode URL. */
async function recordEpisode (person, caseUrl, hoursAgo, reference, backHoursAgo) {
  const page = person.page
  await page.goto(`${caseUrl}/missing`)
  const reported = london(new Date(Date.now() - hoursAgo * HOUR))
  await page.fill('#date', reported.date)
  await page.fill('#time', reported.time)
  await page.fill('#reported_by', 'Foster carer, by phone to 101')
  await page.fill('#police_reference', reference)
  const problem = await submit(page, page.getByRole('button', { name: 'Record the episode' }))
  if (problem) throw new Error(problem)
  const episodeUrl = page.url()
  if (!/\/missing\/[^/#]+$/.test(new URL(episodeUrl).pathname)) throw new Error(`after recording, the page is ${episodeUrl}`)
  if (backHoursAgo !== undefined) {
    const back = london(new Date(Date.now() - backHoursAgo * HOUR))
    await page.fill('#date', back.date)
    await page.fill('#time', back.time)
    await page.fill('#found_where', 'Bus station, Northtown')
    await page.fill('#found_by', 'PC on patrol')
    await page.getByRole('radio', { name: 'No', exact: true }).check()
    const returned = await submit(page, page.getByRole('button', { name: 'Record the return' }))
    if (returned) throw new Error(returned)
  }
  return episodeUrl
}

const started = Date.now()
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
const people = []
const run = Date.now().toString(36).toUpperCase()
console.log(`Confer missing-episode journey against ${BASE_URL} (JavaScript ${JAVASCRIPT ? 'on' : 'off'}); screenshots in ${ARTIFACT_DIR}`)
try {
  // 1. The police record the episode and the return.
  const lee = await signIn(browser, 'DC Lee Harris')
  people.push(lee)
  let caseUrl = null
  let episodeUrl = null
  const recorded = await check(`Lee records that ${CHILD} was reported missing 30 hours ago and returned 20 hours ago`, async () => {
    caseUrl = await openCase(lee)
    episodeUrl = await recordEpisode(lee, caseUrl, 30, `NP-${run}-1`, 20)
    const path = new URL(lee.page.url()).pathname
    if (!path.endsWith('/interview')) return `after the return, the page is ${lee.page.url()}, not the interview`
  })
  await shot(lee.page, 'missing-1-returned.png')
  const interviewUrl = episodeUrl && `${episodeUrl}/interview`

  if (recorded) {
    await check('the interview page shows the 72-hour clock running from the return, due in 52 hours', async () => {
      const page = lee.page
      const clock = (await page.locator('#rhi-clock').innerText()).trim()
      if (!/^due/i.test(clock)) return `the clock reads "${clock}"`
      const due = london(new Date(Date.now() - 20 * HOUR + 72 * HOUR))
      const text = (await page.locator('#rhi').innerText()).replace(/\s+/g, ' ')
      if (!text.includes(due.date)) return `the due date ${due.date} is not shown: ${text}`
      const interviewer = (await page.locator('#interviewer').innerText()).trim()
      if (interviewer !== 'Not assigned yet') return `the interviewer reads "${interviewer}"`
    })
  } else {
    skip('the interview page shows the 72-hour clock', 'the episode was not recorded')
  }

  // 2. The social worker gives the interview to the commissioned service.
  const sam = await signIn(browser, 'Sam Patel')
  people.push(sam)
  const assigned = recorded && await check(`Sam assigns the interview to ${INTERVIEWER} of ${SERVICE} by email`, async () => {
    const page = sam.page
    await page.goto(interviewUrl)
    await page.fill('#guest_name', INTERVIEWER)
    await page.fill('#guest_email', INTERVIEWER_EMAIL)
    await page.selectOption('#guest_agency_id', { label: SERVICE })
    const problem = await submit(page, page.getByRole('button', { name: 'Assign' }))
    if (problem) return problem
    const interviewer = (await page.locator('#interviewer').innerText()).trim()
    if (!interviewer.includes(INTERVIEWER)) return `the interviewer reads "${interviewer}"`
  })
  if (!recorded) skip(`Sam assigns the interview to ${INTERVIEWER}`, 'the episode was not recorded')

  // 3. The interviewer's attempts and the interview.
  const casey = await signIn(browser, INTERVIEWER)
  people.push(casey)
  const found = assigned && await check(`${INTERVIEWER}'s dashboard lists the interview with its clock, without the child's name`, async () => {
    const page = casey.page
    await page.goto(`${BASE_URL}/dashboard`)
    const link = page.locator(`#my-rhi a[href="${new URL(interviewUrl).pathname}"]`)
    if (await link.count() !== 1) {
      const list = await page.locator('#my-rhi').count() ? await page.locator('#my-rhi').innerText() : 'no #my-rhi list'
      return `no link to the interview under "Return home interviews": ${list}`
    }
    const row = (await page.locator('#my-rhi li', { has: page.locator(`a[href="${new URL(interviewUrl).pathname}"]`) }).innerText()).trim()
    if (row.includes(CHILD)) return `the dashboard names the child: "${row}"`
    if (!/due/i.test(row)) return `the row does not show the clock: "${row}"`
    await Promise.all([page.waitForURL(interviewUrl), link.click()])
  })
  if (!assigned) skip(`${INTERVIEWER} finds the interview on her dashboard`, 'it was not assigned')
  await shot(casey.page, 'missing-2-casey-interview.png')

  const attempts = [
    [18, 'Phone call', 'No response', `No answer on the carer's phone (${run})`],
    [6, 'Visit', 'Appointment made', `Saw the carer; Kai agreed to meet tomorrow (${run})`]
  ]
  let attempted = found
  for (const [hoursAgo, method, outcome, note] of attempts) {
    if (!attempted) {
      skip(`${INTERVIEWER} records an attempt: ${method}, ${outcome}`, 'an earlier step failed')
      continue
    }
    attempted = await check(`${INTERVIEWER} records an attempt: ${method}, ${outcome}`, async () => {
      const page = casey.page
      const when = london(new Date(Date.now() - hoursAgo * HOUR))
      await page.fill('#attempt-date', when.date)
      await page.fill('#attempt-time', when.time)
      await page.selectOption('#method', { label: method })
      await page.selectOption('#attempt-outcome', { label: outcome })
      await page.fill('#attempt-note', note)
      const problem = await submit(page, page.getByRole('button', { name: 'Record the attempt' }))
      if (problem) return problem
      const row = page.locator('tr.confer-attempt', { hasText: note })
      if (await row.count() !== 1) return `the attempt "${note}" is not listed once`
      const cells = (await row.locator('td').allInnerTexts()).map((c) => c.trim())
      if (cells[1] !== method || cells[2] !== outcome) return `the row reads ${JSON.stringify(cells)}`
    })
  }

  const interviewed = attempted && await check(`${INTERVIEWER} records the interview as completed; the clock reads "completed in time"`, async () => {
    const page = casey.page
    const when = london(new Date(Date.now() - HOUR))
    await page.getByRole('radio', { name: 'Completed', exact: true }).check()
    await page.fill('#outcome-date', when.date)
    await page.fill('#outcome-time', when.time)
    const problem = await submit(page, page.getByRole('button', { name: 'Record the outcome' }))
    if (problem) return problem
    await page.goto(interviewUrl)
    const clock = (await page.locator('#rhi-clock').innerText()).trim()
    if (clock !== 'completed in time') return `the clock reads "${clock}"`
    const rows = await page.locator('tr.confer-attempt', { hasText: run }).count()
    if (rows !== 2) return `${rows} of this run's attempts are listed, not 2`
  })
  if (!attempted) skip(`${INTERVIEWER} records the interview`, 'the attempts were not recorded')
  await shot(casey.page, 'missing-3-interviewed.png')

  // 4. Findings, shared with the school and the police, who acknowledge them.
  const ASSOCIATE = `Adult male known as J (${run})`
  const PLACE = `Flat above the takeaway, Mill Street (${run})`
  let findingsUrl = null
  const findings = interviewed && await check(`${INTERVIEWER} records the findings: criminal exploitation, high risk, a place and a restricted associate`, async () => {
    const page = casey.page
    await Promise.all([page.waitForURL(/\/findings$/), page.locator('#findings-link').click()])
    findingsUrl = page.url()
    await page.fill('#push_factors', 'Arguments at the placement about curfew')
    await page.fill('#pull_factors', 'Older friends with money and a car')
    await page.fill('#where_child_was', PLACE)
    await page.fill('#who_with', 'An adult he would not name at first')
    await page.check('#indicator-criminal')
    await page.fill('#harm', 'None seen; tired and hungry')
    await page.fill('#child_wishes', 'To stay at the placement with more freedom at weekends')
    await page.fill('#wants_next', 'To see his brother more often')
    await page.check('#risk-high')
    await page.fill('#free_text', 'Kai was given a phone he did not pay for.')
    await page.selectOption('#entry_kind_0', 'place')
    await page.fill('#entry_value_0', PLACE)
    await page.selectOption('#entry_kind_1', 'associate')
    await page.fill('#entry_value_1', ASSOCIATE)
    await page.check('#entry_restricted_1')
    await page.fill('#entry_reason_1', 'A third party\'s identity')
    const problem = await submit(page, page.getByRole('button', { name: 'Save the findings' }))
    if (problem) return problem
    await page.goto(findingsUrl)
    const risk = (await page.locator('#findings-risk').innerText()).trim()
    if (!/high/i.test(risk)) return `the risk reads "${risk}"`
    const indicators = (await page.locator('#findings-indicators').innerText()).trim()
    if (!/criminal/i.test(indicators)) return `the indicators read "${indicators}"`
  })
  if (!interviewed) skip(`${INTERVIEWER} records the findings`, 'the interview was not recorded')
  await shot(casey.page, 'missing-4-findings.png')

  const recipients = [['Tom Evans', 'tom.evans@riverside-academy.example'], ['DC Lee Harris', 'lee.harris@northshire-police.example']]
  const shared = findings && await check(`${INTERVIEWER} shares the findings with the school (Tom Evans) and the police (DC Lee Harris)`, async () => {
    const page = casey.page
    await page.fill('#recipient-1', recipients[0][1])
    await page.fill('#recipient-2', recipients[1][1])
    const problem = await submit(page, page.getByRole('button', { name: 'Share the findings' }))
    if (problem) return problem
    await page.goto(findingsUrl)
    const rows = (await page.locator('#share-list tr.confer-share').allInnerTexts()).map((r) => r.replace(/\s+/g, ' '))
    for (const [name] of recipients) {
      if (!rows.some((r) => r.startsWith(name))) return `no row for ${name}: ${JSON.stringify(rows)}`
    }
  })
  if (!findings) skip('the findings are shared', 'no findings were recorded')

  const tom = await signIn(browser, 'Tom Evans')
  people.push(tom)
  const acknowledged = {}
  for (const [person, name] of [[tom, 'Tom Evans'], [lee, 'DC Lee Harris']]) {
    if (!shared) {
      skip(`${name} acknowledges the findings`, 'they were not shared')
      continue
    }
    acknowledged[name] = await check(`${name} opens the findings from the dashboard, sees the associate withheld, and acknowledges`, async () => {
      const page = person.page
      await page.goto(`${BASE_URL}/dashboard`)
      const links = page.locator('#findings-to-acknowledge + ul a')
      if (await links.count() === 0) return 'no link under "Findings to acknowledge"'
      const text = (await links.last().innerText()).trim()
      if (text.includes(CHILD)) return `the dashboard names the child: "${text}"`
      await Promise.all([page.waitForURL(/\/findings\/[^/]+$/), links.last().click()])
      const body = await page.locator('main').innerText()
      if (!body.includes(PLACE)) return 'the place is not shown'
      if (body.includes(ASSOCIATE)) return 'the restricted associate is shown to a recipient it was not released to'
      if (await page.locator('tr.confer-withheld').count() < 1) return 'no entry is marked "Withheld"'
      const problem = await submit(page, page.getByRole('button', { name: 'I have read these findings' }))
      if (problem) return problem
      if (!await page.locator('#acknowledged').count()) return 'the page does not say it was acknowledged'
    })
    await shot(person.page, `missing-4-${name.split(' ').pop().toLowerCase()}-acknowledged.png`)
  }

  if (shared) {
    await check(`${INTERVIEWER} sees both acknowledgements against the shares`, async () => {
      await casey.page.goto(findingsUrl)
      const rows = (await casey.page.locator('#share-list tr.confer-share').allInnerTexts()).map((r) => r.replace(/\s+/g, ' '))
      const waiting = rows.filter((r) => /not yet/i.test(r))
      if (waiting.length) return `still waiting: ${JSON.stringify(waiting)}`
    })
  } else {
    skip(`${INTERVIEWER} sees both acknowledgements`, 'the findings were not shared')
  }

  // 5. Two more episodes: three in 90 days prompt a strategy discussion.
  const repeated = recorded && await check('Lee records two more episodes; the missing page shows three or more in the last 90 days', async () => {
    await recordEpisode(lee, caseUrl, 10, `NP-${run}-2`, 8)
    await recordEpisode(lee, caseUrl, 4, `NP-${run}-3`, 2)
    await lee.page.goto(`${caseUrl}/missing`)
    const current = (await lee.page.locator('#trend-current').innerText()).trim()
    const n = parseInt(current, 10)
    if (!(n >= 3)) return `the trend reads "${current}"`
  })
  if (!recorded) skip('Lee records two more episodes', 'the first episode was not recorded')

  let promptUrl = null
  const prompted = repeated && await check('Sam\'s missing page prompts a strategy discussion for repeat missing', async () => {
    const page = sam.page
    await page.goto(`${caseUrl}/missing`)
    const link = page.locator('a[href*="/strategy-prompts/"]', { hasText: /missing episodes in 90 days/ }).first()
    if (await link.count() === 0) {
      const prompts = await page.locator('#prompts').count() ? 'a prompts section without a repeat-missing prompt' : 'no "Strategy discussion prompts" section'
      return `no prompt: ${prompts}`
    }
    promptUrl = new URL(await link.getAttribute('href'), BASE_URL).href
  })
  if (!repeated) skip('Sam is prompted to convene a strategy discussion', 'the episodes were not recorded')
  await shot(sam.page, 'missing-6-prompt.png')

  const convened = prompted && await check('Sam follows the prompt, the convening form is pre-filled for a strategy discussion, and the meeting is linked to it', async () => {
    const page = sam.page
    await page.goto(promptUrl)
    const detail = (await page.locator('#prompt-detail').innerText()).trim()
    if (!detail.includes('missing episodes in 90 days')) return `the prompt says "${detail}"`
    await Promise.all([page.waitForURL(/\/meetings\/new/), page.locator('#convene').click()])
    const kind = (await page.locator('#kind option:checked').innerText()).trim()
    if (kind !== 'Strategy discussion') return `the kind chosen is "${kind}"`
    const starts = london(new Date(Date.now() + 26 * HOUR))
    await page.fill('#date', starts.date)
    await page.fill('#time', '10:00')
    await page.fill('#minutes', '60')
    await page.fill('#location', 'Room 2, Northtown office')
    const problem = await submit(page, page.getByRole('button', { name: 'Send the invitations' }))
    if (problem) return problem
    if (!/^\/meetings\/[^/]+$/.test(new URL(page.url()).pathname)) return `after convening, the page is ${page.url()}`
    await page.goto(promptUrl)
    const status = (await page.locator('#prompt-status').innerText()).trim()
    if (!status.startsWith('Convened')) return `the prompt's decision reads "${status}"`
  })
  if (!prompted) skip('Sam convenes the strategy discussion from the prompt', 'there was no prompt')
  await shot(sam.page, 'missing-7-convened.png')
  void convened

  await check('no console errors, uncaught exceptions or 4xx/5xx responses on anyone\'s pages', () => pageProblems(people))
} catch (error) {
  report.crashed('missing-episode', error)
} finally {
  await browser.close()
}
report.finish('missing-episode', started)
