'use strict'
// The tokens are in HttpOnly cookies: this script never sees them, the browser sends them. What it
// does see is the CSRF cookie paired with each token, which it echoes in X-CSRF-TOKEN on unsafe
// requests: a page on another site can make the browser send the cookies, but cannot read this value.

function getCookie (name) {
  const prefix = name + '='
  const found = document.cookie.split('; ').find(c => c.startsWith(prefix))
  return found === undefined ? undefined : decodeURIComponent(found.slice(prefix.length))
}

const $ = id => document.getElementById(id)
let calls = 0

// csrf: which CSRF cookie to echo ('access' or 'refresh'), or none. It is read again before every
// request: implicit refresh and /refresh replace it along with the token.
async function call (method, path, { body, csrf } = {}) {
  const headers = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (csrf !== undefined) {
    const value = getCookie(csrf === 'refresh' ? 'csrf_refresh_token' : 'csrf_access_token')
    if (value !== undefined) headers['x-csrf-token'] = value
  }
  let status, answer
  try {
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin'
    })
    status = res.status
    answer = await res.json().catch(() => null)
  } catch (err) {
    status = 'network error'
    answer = { message: String(err) }
  }
  show(method + ' ' + path, status, answer)
  return { status, answer }
}

function show (what, status, answer) {
  $('call').textContent = what
  $('status').textContent = String(status)
  $('code').textContent = answer?.code ?? ''
  $('result').textContent = JSON.stringify(answer, null, 2)
  // A counter of finished calls, so that automated tests can wait for an answer.
  $('result').dataset.seq = String(++calls)
}

$('login').addEventListener('submit', async event => {
  event.preventDefault()
  const { status, answer } = await call('POST', '/login', { body: { username: $('username').value, password: $('password').value } })
  if (status === 200) $('who').textContent = answer.user
})

$('me').addEventListener('click', async () => {
  const { status, answer } = await call('GET', '/api/me')
  $('who').textContent = status === 200 ? answer.user : 'nobody'
})

$('echo').addEventListener('click', () => call('POST', '/api/echo', { body: { hello: 'world', at: Date.now() }, csrf: 'access' }))
$('echo-no-csrf').addEventListener('click', () => call('POST', '/api/echo', { body: { hello: 'world' } }))
$('refresh').addEventListener('click', () => call('POST', '/refresh', { csrf: 'refresh' }))

$('logout').addEventListener('click', async () => {
  await call('POST', '/logout')
  $('who').textContent = 'nobody'
})
