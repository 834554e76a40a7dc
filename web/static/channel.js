// Live case discussion over the confer.v1 websocket (docs/protocol.md).
// The page works without this script: the form posts and the server renders
// the history. With it, messages, read receipts, presence and typing arrive
// live, and sending does not reload the page.
const root = document.getElementById('confer-channel')
if (root) {
  const channel = root.dataset.channel
  let lastSeq = Number(root.dataset.lastSeq || 0)
  const list = document.getElementById('confer-messages')
  const status = document.getElementById('confer-status')
  const presence = document.getElementById('confer-presence')
  const typing = document.getElementById('confer-typing')
  const form = document.getElementById('confer-message-form')
  const body = document.getElementById('body')
  let me = null
  let socket = null
  let backoff = 500
  let typingTimer = null

  const text = (tag, className, value) => {
    const el = document.createElement(tag)
    if (className) el.className = className
    el.textContent = value
    return el
  }
  const when = (ms) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'

  function render (m) {
    const li = document.createElement('li')
    li.className = 'confer-message'
    li.dataset.seq = m.seq
    if (!m.visible) {
      li.append(text('p', 'confer-message__meta', when(m.created_at)))
      li.append(text('p', 'govuk-body govuk-!-margin-bottom-0', 'A restricted message you cannot see. Ask the case\'s lead social worker if you need to know more.'))
      return li
    }
    if (me && m.author.id === me.id) li.classList.add('confer-message--own')
    const meta = text('p', 'confer-message__meta', '')
    meta.append(text('strong', '', m.author.name))
    meta.append(document.createTextNode(', ' + m.author.agency + ' – ' + when(m.created_at) + (m.edited_at ? ' (edited)' : '')))
    li.append(meta)
    if (m.restricted) {
      li.append(text('strong', 'govuk-tag govuk-tag--orange', 'Restricted'))
      li.append(document.createTextNode(' ' + (m.restriction_reason || '')))
    }
    if (m.redacted_at) {
      li.append(text('p', 'govuk-body govuk-!-margin-bottom-0', 'Removed by ' + (m.redacted_by || '') + ' at ' + when(m.redacted_at)))
    } else {
      li.append(text('p', 'govuk-body govuk-!-margin-bottom-0 confer-message__body', m.body))
    }
    if (me && m.author.id === me.id) li.append(text('p', 'govuk-body-s govuk-!-margin-bottom-0 confer-read-by', 'Not read by anyone else yet'))
    return li
  }

  function upsert (m) {
    const existing = list.querySelector(`li[data-seq="${m.seq}"]`)
    const li = render(m)
    if (existing) existing.replaceWith(li)
    else list.append(li)
    const empty = document.getElementById('confer-empty')
    if (empty) empty.remove()
  }

  function send (frame) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(frame))
      return true
    }
    return false
  }

  function markRead () {
    if (lastSeq > 0 && document.visibilityState === 'visible') send({ type: 'read', id: 'read', channel, seq: lastSeq })
  }

  function connect () {
    status.textContent = 'Connecting…'
    socket = new WebSocket(`wss://${location.host}/ws`, 'confer.v1')
    socket.onopen = () => { backoff = 500 }
    socket.onmessage = (event) => {
      const f = JSON.parse(event.data)
      switch (f.type) {
        case 'hello':
          me = f.person
          send({ type: 'subscribe', id: 'sub', channel, after_seq: lastSeq })
          break
        case 'subscribed':
          status.textContent = 'Live: new messages appear here as they are sent.'
          markRead()
          break
        case 'message':
          if (f.seq > lastSeq) {
            upsert(f.message)
            lastSeq = f.seq
            markRead()
          }
          break
        case 'message_updated':
          upsert(f.message)
          break
        case 'receipt': {
          if (!me || f.person.id === me.id) break
          for (const li of list.querySelectorAll('li.confer-message--own')) {
            if (Number(li.dataset.seq) <= f.seq) {
              const line = li.querySelector('.confer-read-by')
              const who = `${f.person.name} (${f.person.agency})`
              if (line && !line.textContent.includes(who)) {
                line.textContent = line.textContent.startsWith('Read by') ? `${line.textContent}, ${who}` : `Read by ${who}`
              }
            }
          }
          break
        }
        case 'presence':
          presence.textContent = 'Here now: ' + f.online.map((p) => `${p.name} (${p.agency})`).join(', ')
          break
        case 'typing':
          typing.textContent = `${f.person.name} is typing…`
          clearTimeout(typingTimer)
          typingTimer = setTimeout(() => { typing.textContent = '' }, 3000)
          break
        case 'unsubscribed':
          status.textContent = 'You no longer have access to this case.'
          break
        case 'error':
          if (f.id && f.id.startsWith('send-')) status.textContent = f.message
          break
      }
    }
    socket.onclose = (event) => {
      if (event.code === 4001) {
        status.textContent = 'Your session has ended. Sign in again to continue.'
        return
      }
      status.textContent = 'Reconnecting…'
      setTimeout(connect, backoff)
      backoff = Math.min(backoff * 2, 15000)
    }
  }

  form.addEventListener('submit', (event) => {
    const restrict = document.getElementById('restrict').checked
    const reason = document.getElementById('reason').value
    // Restricted messages and failures go through the plain form post.
    if (restrict || !body.value.trim()) return
    const clientId = crypto.randomUUID()
    if (send({ type: 'send', id: 'send-' + clientId, channel, client_id: clientId, body: body.value })) {
      event.preventDefault()
      body.value = ''
      document.getElementById('reason').value = reason
    }
  })
  body.addEventListener('input', () => send({ type: 'typing', channel }))
  document.addEventListener('visibilitychange', markRead)
  connect()
}
