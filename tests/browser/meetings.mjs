// Browser test of the meetings journey on server-rendered forms: the lead
// social worker convenes a strategy discussion about Lily Ashworth, the
// police and health accept from their dashboards, the meeting's discussion
// carries a message, the chair records attendance and the outcome, the
// statutory clock appears on the case page, and the circulated record is
// acknowledged. Every step is a plain form post and a page load; nothing
// relies on the websocket (pages are reloaded to see other people's changes).
// Run against a development server with demo data:
//
//   CONFER_URL=https://127.0.0.1:8443 ARTIFACT_DIR=/tmp/shots node meetings.mjs
//
// JavaScript is on, as in the other browser tests; MEETINGS_JAVASCRIPT=off runs
// the same journey with it disabled. The test convenes a new meeting each run
// and looks only at that meeting's rows, so it can run again on the same
// server. Last line: "N passed, M failed"; exit status 1 if anything failed.

import { chromium } from 'playwright-core'
import { ARGS, BASE_URL, CHROMIUM, artifactDir, london, pageProblems, reporter, shot as shotIn, signIn as signInAs, submit } from './journey.mjs'

const ARTIFACT_DIR = artifactDir('meetings')
const JAVASCRIPT = process.env.MEETINGS_JAVASCRIPT !== 'off'
const CHILD = 'Lily Ashworth'
const LOCATION = 'Teams link in Confer'
const POLICE = 'Northshire Police'
const HEALTH = 'Northshire NHS Foundation Trust'

const { check, skip, ...report } = reporter()
const shot = (page, file) => shotIn(ARTIFACT_DIR, page, file)
const signIn = (browser, name) => signInAs(browser, name, { javaScriptEnabled: JAVASCRIPT })

// --- England's working days ---------------------------------------------------

// England and Wales bank holidays (GOV.UK), hard-coded on purpose so that
// the test does not share the server's computation.
const BANK_HOLIDAYS = new Set([
  '2026-01-01', '2026-04-03', '2026-04-06', '2026-05-04', '2026-05-25', '2026-08-31', '2026-12-25', '2026-12-28',
  '2027-01-01', '2027-03-26', '2027-03-29', '2027-05-03', '2027-05-31', '2027-08-30', '2027-12-27', '2027-12-28'
])
const HOLIDAYS_KNOWN_FROM = '2026-01-01'
const HOLIDAYS_KNOWN_UNTIL = '2027-12-31'

/** The `n`th working day after `iso` (the day itself not counted). */
function addWorkingDays (iso, n) {
  if (iso < HOLIDAYS_KNOWN_FROM) throw new Error(`no bank holidays listed before ${HOLIDAYS_KNOWN_FROM}`)
  const day = new Date(`${iso}T12:00:00Z`)
  let counted = 0
  while (counted < n) {
    day.setUTCDate(day.getUTCDate() + 1)
    const text = day.toISOString().slice(0, 10)
    if (text > HOLIDAYS_KNOWN_UNTIL) {
      throw new Error(`${text} is past the bank holidays this test lists (to ${HOLIDAYS_KNOWN_UNTIL}): add the next year's`)
    }
    const weekday = day.getUTCDay()
    if (weekday !== 0 && weekday !== 6 && !BANK_HOLIDAYS.has(text)) counted += 1
  }
  return day.toISOString().slice(0, 10)
}

/** The text of "Who is coming" as [agency, who, answer] rows. */
async function invitationRows (page) {
  const rows = page.locator('tr.confer-invitation')
  const out = []
  for (let i = 0; i < await rows.count(); i++) {
    const cells = await rows.nth(i).locator('td').allInnerTexts()
    out.push(cells.map((c) => c.replace(/\s+/g, ' ').trim()))
  }
  return out
}

// --- The journey --------------------------------------------------------------

const started = Date.now()
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
const people = []
let meetingUrl = null
let meetingId = null
let caseUrl = null
let meetingDate = null
console.log(`Confer meetings journey against ${BASE_URL} (JavaScript ${JAVASCRIPT ? 'on' : 'off'}); screenshots in ${ARTIFACT_DIR}`)
try {
  // 1. Sam convenes a strategy discussion.
  const sam = await signIn(browser, 'Sam Patel')
  people.push(sam)
  const starts = london(new Date(Math.ceil((Date.now() + 5 * 60000) / 60000) * 60000))
  meetingDate = starts.date
  console.log(`       (meeting at ${starts.date} ${starts.time}, London time)`)

  const opened = await check(`Sam opens ${CHILD}'s case from /cases`, async () => {
    await Promise.all([
      sam.page.waitForURL(/\/cases\/[^/]+$/),
      sam.page.getByRole('link', { name: CHILD }).click()
    ])
    caseUrl = sam.page.url()
    const h1 = (await sam.page.locator('h1').innerText()).trim()
    if (!h1.includes(CHILD)) return `the case page's h1 is "${h1}"`
  })

  const formShown = opened && await check('"Convene a meeting" opens the convening form for a strategy discussion', async () => {
    await Promise.all([
      sam.page.waitForURL(/\/meetings\/new/),
      sam.page.getByRole('link', { name: 'Convene a meeting' }).click()
    ])
    const kind = await sam.page.locator('#kind option:checked').innerText()
    if (kind.trim() !== 'Strategy discussion') return `the kind chosen is "${kind}"`
  })

  const convened = formShown && await check('Sam fills in the form, invites Lee, Kim and Alex, and sends the invitations', async () => {
    const page = sam.page
    await page.fill('#date', starts.date)
    await page.fill('#time', starts.time)
    await page.fill('#minutes', '60')
    await page.selectOption('#mode', { label: 'Video link' })
    await page.fill('#location', LOCATION)
    const chair = (await page.locator('#chair_id option:checked').innerText()).trim()
    if (!chair.startsWith('Sam Patel')) return `the chair proposed is "${chair}", not Sam`
    const invitees = page.getByRole('group', { name: 'Invite people from the case team' })
    for (const who of ['DC Lee Harris', 'Kim Okafor', 'Alex Morgan']) {
      const box = invitees.getByRole('checkbox', { name: new RegExp(`^${who} — `) })
      if (await box.count() !== 1) return `no single checkbox for ${who} under "Invite people from the case team"`
      const proposed = await box.isChecked()
      console.log(`       (${who}: ${proposed ? 'already ticked' : 'ticking'})`)
      if (!proposed) await box.check()
    }
    await shot(page, 'meetings-1-convene-form.png')
    const problem = await submit(page, page.getByRole('button', { name: 'Send the invitations' }))
    if (problem) return problem
    const match = /^\/meetings\/([^/]+)$/.exec(new URL(page.url()).pathname)
    if (!match) return `after sending, the page is ${page.url()}, not /meetings/<id>`
    meetingId = match[1]
    meetingUrl = `${BASE_URL}/meetings/${meetingId}`
  })
  await shot(sam.page, 'meetings-1-convened.png')

  if (convened) {
    await check('the meeting page shows the strategy discussion as scheduled, by video link, with the location', async () => {
      const page = sam.page
      const problems = []
      const h1 = (await page.locator('h1').innerText()).trim()
      if (h1 !== 'Strategy discussion') problems.push(`h1 is "${h1}"`)
      const summary = (await page.locator('#meeting-summary').innerText()).replace(/\s+/g, ' ')
      for (const want of ['Video link', LOCATION, `${starts.time} to`, '(London time)']) {
        if (!summary.includes(want)) problems.push(`the summary lacks "${want}": ${summary}`)
      }
      const status = (await page.locator('#meeting-status').innerText()).trim()
      if (status !== 'scheduled') problems.push(`status is "${status}"`)
      const rows = await invitationRows(page)
      for (const who of ['DC Lee Harris', 'Kim Okafor', 'Alex Morgan']) {
        if (!rows.some((r) => r[1] === who)) problems.push(`${who} is not under "Who is coming": ${JSON.stringify(rows)}`)
      }
      return problems.join('\n') || null
    })
  } else {
    skip('the meeting page shows the strategy discussion as scheduled', 'the meeting was not convened')
  }

  // 2. Lee and Kim accept from their dashboards.
  const lee = await signIn(browser, 'DC Lee Harris')
  const kim = await signIn(browser, 'Kim Okafor')
  people.push(lee, kim)
  const accepted = {}
  for (const [person, file] of [[lee, 'meetings-2-lee-accepted.png'], [kim, 'meetings-2-kim-accepted.png']]) {
    if (!convened) {
      skip(`${person.name} accepts from the dashboard`, 'the meeting was not convened')
      continue
    }
    const listed = await check(`${person.name}'s dashboard lists the meeting under "Your upcoming meetings"`, async () => {
      await person.page.goto(`${BASE_URL}/dashboard`)
      const link = person.page.locator(`#upcoming-meetings a[href="/meetings/${meetingId}"]`)
      if (await link.count() !== 1) {
        const list = await person.page.locator('#upcoming-meetings').count()
          ? await person.page.locator('#upcoming-meetings').innerText()
          : 'no #upcoming-meetings list'
        return `no link to /meetings/${meetingId} under "Your upcoming meetings": ${list}`
      }
      const text = (await link.innerText()).trim()
      if (!text.startsWith('Strategy discussion')) return `the link reads "${text}"`
      if (text.includes(CHILD)) return `the dashboard names the child: "${text}"`
    })
    accepted[person.name] = listed && await check(`${person.name} opens it, chooses Accept and sends the answer; the page shows "Accepted"`, async () => {
      const page = person.page
      await Promise.all([
        page.waitForURL(meetingUrl),
        page.locator(`#upcoming-meetings a[href="/meetings/${meetingId}"]`).click()
      ])
      const before = (await page.locator('.confer-answer').innerText()).trim()
      if (before !== 'No answer yet') return `before answering, the page shows the answer "${before}", not "No answer yet"`
      await page.getByRole('radio', { name: 'Accept', exact: true }).check()
      const problem = await submit(page, page.getByRole('button', { name: 'Send your answer' }))
      if (problem) return problem
      const answer = (await page.locator('.confer-answer').innerText()).trim()
      if (answer !== 'Accepted') return `the answer shown is "${answer}"`
    })
    await shot(person.page, file)
  }

  // 3. "Who is coming", and the meeting's discussion.
  if (convened) {
    await check('after a reload, Sam sees two Accepted under "Who is coming": police and health', async () => {
      await sam.page.goto(meetingUrl)
      const rows = await invitationRows(sam.page)
      const acceptedRows = rows.filter((r) => r[2].startsWith('Accepted'))
      const problems = []
      if (acceptedRows.length !== 2) problems.push(`${acceptedRows.length} Accepted, not 2`)
      if (!acceptedRows.some((r) => r[0] === POLICE && r[1] === 'DC Lee Harris')) problems.push(`no Accepted row for DC Lee Harris of ${POLICE}`)
      if (!acceptedRows.some((r) => r[0] === HEALTH && r[1] === 'Kim Okafor')) problems.push(`no Accepted row for Kim Okafor of ${HEALTH}`)
      return problems.length ? `${problems.join('; ')}\nrows: ${JSON.stringify(rows)}` : null
    })
    await shot(sam.page, 'meetings-3-who-is-coming.png')
  } else {
    skip('Sam sees two Accepted under "Who is coming"', 'the meeting was not convened')
  }

  const text = `Meetings check ${Date.now()}: police and health have both accepted.`
  const posted = convened && await check('Sam posts a message in "The meeting\'s discussion"', async () => {
    const page = sam.page
    if (!await page.locator('h2#discussion').count()) return 'no "The meeting\'s discussion" section on Sam\'s meeting page'
    await page.fill('#body', text)
    const send = page.locator('#confer-message-form button[type=submit]')
    if (JAVASCRIPT) {
      // The page's script may send it over the websocket instead of posting
      // the form; either way it must show up in the list.
      await send.click()
    } else {
      const problem = await submit(page, send)
      if (problem) return problem
    }
    await page.locator('.confer-message__body', { hasText: text }).waitFor({ timeout: 10000 })
  })
  if (posted && accepted['DC Lee Harris']) {
    await check('Lee sees Sam\'s message on his meeting page after a reload', async () => {
      await lee.page.goto(meetingUrl)
      if (!await lee.page.locator('h2#discussion').count()) return 'no "The meeting\'s discussion" section on Lee\'s meeting page'
      await lee.page.locator('.confer-message__body', { hasText: text }).waitFor({ timeout: 10000 })
      const meta = (await lee.page.locator('li.confer-message', { hasText: text }).locator('.confer-message__meta').innerText()).trim()
      if (!meta.startsWith('Sam Patel')) return `the message is attributed to "${meta}"`
    })
    await shot(lee.page, 'meetings-3-lee-discussion.png')
  } else {
    skip('Lee sees Sam\'s message on his meeting page', 'the message was not posted or Lee did not accept')
  }

  // 4. The chair records attendance and the outcome.
  const attendance = convened && await check(`Sam records attendance for ${POLICE}: attended, DC Lee Harris, senior enough`, async () => {
    const page = sam.page
    await page.goto(meetingUrl)
    if (!await page.locator('#attendance-form').count()) return 'no attendance form on the meeting page (is the record open, 15 minutes before the start?)'
    await page.selectOption('#att-agency', { label: POLICE })
    await page.selectOption('#att-attended', 'yes')
    await page.fill('#att-who', 'DC Lee Harris')
    await page.selectOption('#att-senior', 'yes')
    const problem = await submit(page, page.getByRole('button', { name: 'Record attendance' }))
    if (problem) return problem
    const row = page.locator('h2#attendance ~ table tr', { hasText: POLICE }).first()
    if (!await row.count()) return 'no attendance row for the police after recording it'
    const cells = (await row.locator('td').allInnerTexts()).map((c) => c.trim())
    if (cells[1] !== 'Attended' || cells[2] !== 'DC Lee Harris' || cells[3] !== 'Yes') return `the row reads ${JSON.stringify(cells)}`
  })
  if (!convened) skip('Sam records attendance', 'the meeting was not convened')

  const outcome = convened && await check('Sam records the outcome: joint section 47, safety actions, what the family is told and when, conference needed', async () => {
    const page = sam.page
    if (!await page.locator('#outcome-form').count()) return 'no outcome form on the meeting page'
    await page.selectOption('#section_47', 'joint')
    await page.fill('#immediate_safety_actions', 'Lily stays with her grandmother tonight; police visit the home address.')
    await page.fill('#family_told', 'That a joint enquiry by children\'s social care and the police will take place.')
    await page.fill('#family_told_when', 'This afternoon, by Sam Patel, at the grandmother\'s home.')
    await page.selectOption('#initial_conference_needed', 'yes')
    const problem = await submit(page, page.locator('#record-outcome'))
    if (problem) return problem
    const status = (await page.locator('#meeting-status').innerText()).trim()
    const summary = await page.locator('#outcome-summary').count()
      ? (await page.locator('#outcome-summary').innerText()).replace(/\s+/g, ' ')
      : ''
    const problems = []
    if (status !== 'held') problems.push(`status is "${status}", not "held"`)
    if (!summary) problems.push('no outcome summary on the page')
    if (!/joint/i.test(summary)) problems.push(`the outcome does not say the enquiry is joint: ${summary}`)
    if (!summary.includes('grandmother tonight')) problems.push(`the outcome lacks the safety actions: ${summary}`)
    return problems.join('\n') || null
  })
  if (!convened) skip('Sam records the outcome', 'the meeting was not convened')
  await shot(sam.page, 'meetings-4-recorded.png')

  // 5. The statutory clock on the case page.
  if (outcome && caseUrl) {
    const conferenceDue = addWorkingDays(meetingDate, 15)
    const recordDue = addWorkingDays(meetingDate, 1)
    const today = london(new Date()).date
    console.log(`       (held ${meetingDate}: record due ${recordDue}, initial conference due ${conferenceDue})`)
    await sam.page.goto(caseUrl)
    // Only the rows this meeting set, in case the server has run the test before.
    const rowOf = (label) => sam.page.locator(`tr.confer-deadline[data-deadline="${label}"]`)
      .filter({ has: sam.page.locator(`a[href="/meetings/${meetingId}"]`) })
    for (const [label, due, days] of [
      ['Initial child protection conference', conferenceDue, 15],
      ['Strategy discussion record circulated', recordDue, 1]
    ]) {
      await check(`the case's "Statutory clock" shows "${label}" due ${due} (${days} working day${days === 1 ? '' : 's'} after ${meetingDate})`, async () => {
        const row = rowOf(label)
        if (await row.count() !== 1) {
          const table = await sam.page.locator('#deadlines').count() ? await sam.page.locator('#deadlines').innerText() : 'no #deadlines table'
          return `${await row.count()} "${label}" rows set by this meeting\n${table}`
        }
        const shown = (await row.locator('.confer-deadline__due').innerText()).trim().split('\n')[0].trim()
        if (shown !== due) return `due date shown is "${shown}", expected ${due}`
        const standing = (await row.locator('td').nth(2).innerText()).trim()
        const expected = `due in ${days} working day${days === 1 ? '' : 's'}`
        if (meetingDate === today && standing !== expected) return `it stands "${standing}", expected "${expected}"`
      })
    }
    await shot(sam.page, 'meetings-5-statutory-clock.png')
  } else {
    skip('the case\'s "Statutory clock" shows the initial conference and the strategy record', 'the outcome was not recorded')
  }

  // 6. Minutes, circulation and acknowledgement.
  const circulated = outcome && await check('Sam writes the minutes, saves them and circulates the record', async () => {
    const page = sam.page
    await page.goto(meetingUrl)
    await page.fill('#minutes-text', 'Present: Sam Patel (chair), DC Lee Harris, Kim Okafor. Joint section 47 enquiry agreed; ' +
      'initial child protection conference to be convened.')
    let problem = await submit(page, page.getByRole('button', { name: 'Save the draft' }))
    if (problem) return problem
    problem = await submit(page, page.locator('#circulate'))
    if (problem) return problem
    const sent = page.locator('#circulation')
    if (!await sent.count()) return 'no "Sent to" table after circulating'
    const table = (await sent.innerText()).replace(/\s+/g, ' ')
    for (const who of ['DC Lee Harris', 'Kim Okafor']) {
      if (!table.includes(who)) return `the record was not sent to ${who}: ${table}`
    }
  })
  if (!outcome) skip('Sam circulates the record', 'the outcome was not recorded')
  await shot(sam.page, 'meetings-6-circulated.png')

  const acknowledged = circulated && await check('Lee\'s dashboard lists the record to read; his meeting page has "I have read the record", and he acknowledges', async () => {
    const page = lee.page
    await page.goto(`${BASE_URL}/dashboard`)
    if (!await page.locator(`#to-acknowledge ~ ul a[href="/meetings/${meetingId}#record"]`).count()) {
      return 'the record is not under "Records to read and acknowledge" on Lee\'s dashboard'
    }
    await page.goto(meetingUrl)
    const minutes = (await page.locator('#circulated-minutes').innerText()).trim()
    if (!minutes.includes('Joint section 47 enquiry agreed')) return `the circulated minutes Lee sees are "${minutes}"`
    const problem = await submit(page, page.getByRole('button', { name: 'I have read the record' }))
    if (problem) return problem
    const done = (await page.locator('#acknowledged').innerText()).trim()
    if (!done.startsWith('You acknowledged reading the record')) return `the page says "${done}"`
  })
  if (!circulated) skip('Lee acknowledges the record', 'the record was not circulated')
  await shot(lee.page, 'meetings-6-lee-acknowledged.png')

  if (acknowledged) {
    await check('Sam\'s meeting page shows Lee\'s acknowledgement (and Kim\'s as not yet)', async () => {
      await sam.page.goto(meetingUrl)
      const cells = async (who) => (await sam.page.locator('#circulation tr', { hasText: who }).locator('td').allInnerTexts()).map((c) => c.trim())
      const leeRow = await cells('DC Lee Harris')
      const kimRow = await cells('Kim Okafor')
      if (!leeRow[2] || !leeRow[2].startsWith('Acknowledged')) return `Lee's row reads ${JSON.stringify(leeRow)}`
      if (kimRow[2] !== 'Not yet acknowledged') return `Kim's row reads ${JSON.stringify(kimRow)}`
    })
    await shot(sam.page, 'meetings-6-sam-acknowledgements.png')
    await check('circulating met the strategy record deadline on the case page', async () => {
      await sam.page.goto(caseUrl)
      const row = sam.page.locator('tr.confer-deadline[data-deadline="Strategy discussion record circulated"]')
        .filter({ has: sam.page.locator(`a[href="/meetings/${meetingId}"]`) })
      const standing = (await row.locator('td').nth(2).innerText()).trim()
      const today = london(new Date()).date
      if (standing !== `met on ${today}`) return `it stands "${standing}", expected "met on ${today}"`
    })
  } else {
    skip('Sam\'s meeting page shows Lee\'s acknowledgement', 'Lee did not acknowledge')
  }

  await check('no console errors, uncaught exceptions or 4xx/5xx responses on anyone\'s pages', () => pageProblems(people))
} catch (error) {
  report.crashed('meetings', error)
} finally {
  await browser.close()
}
report.finish('meetings', started)
