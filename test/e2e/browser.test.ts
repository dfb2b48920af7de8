import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { payloadOf } from '../helpers/app'

// Drives examples/browser-cookies in headless Chromium: HttpOnly token cookies, the double-submit CSRF
// header read from document.cookie, explicit refresh, logout, and implicit refresh.
const { build } = require('../../examples/browser-cookies/server.js') as {
  build: (opts?: Record<string, unknown>) => Promise<FastifyInstance>
}

const CHROMIUM = '/usr/bin/chromium'
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run']
const SECRET = 'browser-cookies-e2e-secret-0123456789abcdef'

interface Answer { status: number, code: string, body: any }
interface Session { page: Page, context: BrowserContext, base: string, app: FastifyInstance }

/** Clicks a button of the page and waits for the answer it shows (#result's data-seq counts calls). */
async function press (page: Page, selector: string): Promise<Answer> {
  const seq = Number(await page.getAttribute('#result', 'data-seq') ?? 0)
  await page.click(selector)
  await page.waitForSelector(`#result[data-seq="${seq + 1}"]`, { state: 'attached', timeout: 5000 })
  return {
    status: Number(await page.textContent('#status')),
    code: (await page.textContent('#code')) ?? '',
    body: JSON.parse((await page.textContent('#result')) ?? 'null')
  }
}

async function login (page: Page, username: string, password: string): Promise<Answer> {
  await page.fill('#username', username)
  await page.fill('#password', password)
  return await press(page, '#login-submit')
}

/** The names of the cookies the page's own script can see. */
async function scriptCookies (page: Page): Promise<string[]> {
  const all = String(await page.evaluate('document.cookie'))
  return all === '' ? [] : all.split('; ').map(c => c.slice(0, c.indexOf('='))).sort()
}

async function cookie (context: BrowserContext, name: string) {
  return (await context.cookies()).find(c => c.name === name)
}

/**
 * Starts the example in-process and opens its page in a fresh context; closes both afterwards. On a
 * failure, a screenshot of the page is saved to a temporary folder and its path reported.
 */
async function withPage (t: Test, browser: Browser, options: Record<string, unknown>, body: (s: Session) => Promise<void>) {
  // insecureCookies: the page is served over plain http (Chromium happens to keep Secure cookies on
  // 127.0.0.1, but not every browser does: the example's documented http mode is what is tested).
  const app = await build({ secret: SECRET, insecureCookies: true, ...options })
  const context = await browser.newContext()
  try {
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as { port: number }
    const base = `http://127.0.0.1:${port}`
    const page = await context.newPage()
    let failed = false
    try {
      await page.goto(base + '/')
      await body({ page, context, base, app })
    } catch (err) {
      failed = true
      throw err
    } finally {
      if (failed || !t.passing()) {
        const path = join(mkdtempSync(join(tmpdir(), 'authx-browser-')), 'failure.png')
        await page.screenshot({ path, fullPage: true }).then(
          () => t.comment(`screenshot of the failing page: ${path}`),
          err => t.comment(`could not take a screenshot: ${String(err)}`)
        )
      }
    }
  } finally {
    await context.close()
    await app.close()
  }
}

if (!existsSync(CHROMIUM)) {
  const message = `${CHROMIUM} is missing: the browser end-to-end tests cannot run (install the chromium package)`
  if (process.env.CI === 'true') {
    t.fail(message)
  } else {
    console.error(`\n${'!'.repeat(100)}\n!! SKIPPED: ${message}\n${'!'.repeat(100)}\n`)
    t.comment(message)
    t.pass('browser end-to-end tests', { skip: message })
  }
} else {
  let browser: Browser
  t.before(async () => {
    // A fresh temporary profile per launch; never downloads a browser.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS })
  })
  t.teardown(async () => { await browser?.close() })

  t.test('log in, call the API with the CSRF header, refresh, log out', async t => {
    await withPage(t, browser, {}, async ({ page, context, base }) => {
      let res = await login(page, 'test', 'wrong')
      t.equal(res.status, 401, 'a bad password is refused')
      t.equal(res.body.message, 'Bad username/password')
      t.equal(await page.textContent('#who'), 'nobody')

      res = await login(page, 'test', 'test')
      t.equal(res.status, 200, 'logged in')
      t.equal(await page.textContent('#who'), 'test', 'the page shows who is logged in')

      res = await press(page, '#me')
      t.equal(res.status, 200, 'GET /api/me with the cookies')
      t.same(res.body, { user: 'test' })

      res = await press(page, '#echo')
      t.equal(res.status, 200, 'POST /api/echo with the X-CSRF-TOKEN header')
      t.match(res.body, { user: 'test', echoed: { hello: 'world' } })

      t.same(await scriptCookies(page), ['csrf_access_token', 'csrf_refresh_token'],
        'the script sees the CSRF cookies and not the HttpOnly token cookies')
      for (const name of ['access_token_cookie', 'refresh_token_cookie']) {
        t.match(await cookie(context, name), { httpOnly: true, sameSite: 'Lax', path: '/' }, `${name} is in the browser, HttpOnly`)
      }

      res = await press(page, '#echo-no-csrf')
      t.equal(res.status, 401, 'POST without the CSRF header is refused')
      t.equal(res.code, 'FST_AUTHX_CSRF_MISSING')

      const before = (await cookie(context, 'access_token_cookie'))?.value
      const csrfBefore = (await cookie(context, 'csrf_access_token'))?.value
      res = await press(page, '#refresh')
      t.equal(res.status, 200, 'POST /refresh with the refresh CSRF header')
      t.same(res.body, { refreshed: true })
      const after = (await cookie(context, 'access_token_cookie'))?.value
      t.not(after, before, 'a new access cookie')
      t.not((await cookie(context, 'csrf_access_token'))?.value, csrfBefore, 'and a new CSRF cookie')
      t.equal(payloadOf(String(after)).fresh, false, 'the refreshed access token is not fresh')

      res = await press(page, '#echo')
      t.equal(res.status, 200, 'POST after the refresh: the page sends the new CSRF value')

      t.same(await (await fetch(base + '/stats')).json(), { refreshCalls: 1 }, 'the server counted the one /refresh call')

      res = await press(page, '#logout')
      t.equal(res.status, 200, 'logged out')
      t.same(res.body, { ok: true })
      t.equal(await page.textContent('#who'), 'nobody')
      t.same(await scriptCookies(page), [], 'the CSRF cookies are gone')
      t.same((await context.cookies()).map(c => c.name), [], 'and so are the token cookies')

      res = await press(page, '#me')
      t.equal(res.status, 401, 'the protected GET is refused after logout')
      t.equal(res.code, 'FST_AUTHX_MISSING_TOKEN')
    })
  })

  t.test('implicit refresh keeps a busy page logged in without calling /refresh', async t => {
    const lifetime = 3
    await withPage(t, browser, { accessTokenExpires: lifetime, implicitRefresh: { deltaTime: 2 } }, async ({ page, context, base }) => {
      t.equal((await login(page, 'test', 'test')).status, 200, 'logged in')
      const first = String((await cookie(context, 'access_token_cookie'))?.value)

      // At least 10 s of clicks (more than three lifetimes of the access token) and at least 10 clicks,
      // however slow a loaded machine makes each: every call must succeed, so the cookie (and its CSRF
      // cookie, which the page reads again each time) must have been renewed.
      const failures: Array<{ at: number, button: string, status: number, code: string }> = []
      const seen = new Set([first])
      const start = Date.now()
      let calls = 0
      while (Date.now() - start < 10_000 || calls < 10) {
        const button = calls % 2 === 0 ? '#echo' : '#me'
        const res = await press(page, button)
        calls++
        if (res.status !== 200) failures.push({ at: Date.now() - start, button, status: res.status, code: res.code })
        seen.add(String((await cookie(context, 'access_token_cookie'))?.value))
        await page.waitForTimeout(500)
      }
      t.same(failures, [], `all ${calls} calls over ${((Date.now() - start) / 1000).toFixed(1)} s succeeded`)

      const last = String((await cookie(context, 'access_token_cookie'))?.value)
      t.not(last, first, 'the access cookie was replaced')
      t.ok(seen.size >= 3, `the access cookie was renewed several times (${seen.size - 1})`)
      t.ok(payloadOf(last).exp > payloadOf(first).exp + lifetime, 'the current access token outlives the first by more than a lifetime')
      t.match(payloadOf(last), { sub: 'test', fam: payloadOf(first).fam, fresh: false }, 'same subject and family, not fresh')
      t.same(await (await fetch(base + '/stats')).json(), { refreshCalls: 0 }, 'the page never called /refresh')

      // Unguarded routes refresh too: reload the page (GET /) once the token is due for renewal.
      await page.waitForTimeout(Math.max(0, (payloadOf(last).exp - 1.5) * 1000 - Date.now()))
      t.equal((await page.reload())?.status(), 200, 'the page reloads')
      const reloaded = String((await cookie(context, 'access_token_cookie'))?.value)
      t.not(reloaded, last, 'loading the page renewed the access cookie')
      t.equal((await press(page, '#echo')).status, 200, 'and the reloaded page can POST with the new CSRF value')

      // Once the page is idle longer than the lifetime, nothing renews the token: it expires.
      await page.waitForTimeout((lifetime + 1) * 1000)
      const res = await press(page, '#me')
      t.equal(res.status, 401, 'an idle page’s access token expires')
      t.equal(res.code, 'FST_AUTHX_TOKEN_EXPIRED')
    })
  })
}
