import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { chromium, type Locator, type Page } from 'playwright-core'
import t from 'tap'

// Drives examples/openapi in headless Chromium the way a user tries an API: log in with "Try it out" on
// POST /login, paste the access token into "Authorize", then "Try it out" on the guarded GET /profile.
// Nothing in the example describes security: the plugin documents it.
const { build } = require('../../examples/openapi/server.js') as {
  build: (opts?: Record<string, unknown>) => Promise<FastifyInstance>
}

const CHROMIUM = '/usr/bin/chromium'
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run']

/** Opens an operation, presses "Try it out" and "Execute", and returns the live response's status and body. */
async function tryItOut (page: Page, operation: Locator, fill?: (op: Locator) => Promise<void>): Promise<{ status: number, body: string }> {
  if (await operation.locator('.try-out__btn').count() === 0) await operation.locator('.opblock-summary').first().click()
  const tryOut = operation.locator('.try-out__btn')
  if ((await tryOut.textContent())?.trim() === 'Try it out') await tryOut.click()
  if (fill !== undefined) await fill(operation)
  await operation.locator('button.execute').click()
  const live = operation.locator('.live-responses-table .response').first()
  await live.waitFor({ timeout: 10000 })
  const status = Number((await live.locator('.response-col_status').textContent())?.trim())
  const body = (await live.locator('.response-col_description pre').first().textContent()) ?? ''
  // "Clear" so the next Execute shows a fresh answer
  await operation.locator('button.btn-clear').click()
  return { status, body }
}

if (!existsSync(CHROMIUM)) {
  const message = `${CHROMIUM} is missing: the Swagger UI end-to-end test cannot run (install the chromium package)`
  if (process.env.CI === 'true') {
    t.fail(message)
  } else {
    console.error(`\n${'!'.repeat(100)}\n!! SKIPPED: ${message}\n${'!'.repeat(100)}\n`)
    t.comment(message)
    t.pass('Swagger UI end-to-end test', { skip: message })
  }
} else {
  t.test('Swagger UI: log in, Authorize, and "Try it out" on a guarded route answers 200', async t => {
    const app = await build({ secret: 'swagger-ui-e2e-secret-0123456789abcdef' })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as { port: number }
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS })
    const page = await browser.newPage()
    t.teardown(async () => { await browser.close(); await app.close() })
    try {
      await page.goto(`http://127.0.0.1:${port}/documentation/static/index.html`)
      const profile = page.locator('#operations-default-get_profile')
      const login = page.locator('#operations-default-post_login')
      await profile.waitFor({ timeout: 15000 })

      t.ok(await profile.locator('.authorization__btn').count() > 0, 'the guarded route shows a lock')
      t.equal(await page.locator('#operations-default-get_health .authorization__btn').count(), 0, 'the open route does not')

      let res = await tryItOut(page, profile)
      t.equal(res.status, 401, 'before Authorize, the guarded route answers 401')
      t.match(res.body, /FST_AUTHX_MISSING_TOKEN/)

      res = await tryItOut(page, login, async op => {
        await op.locator('textarea.body-param__text').fill(JSON.stringify({ username: 'test', password: 'test' }))
      })
      t.equal(res.status, 200, 'POST /login from Swagger UI')
      const pair = JSON.parse(res.body)
      t.equal(pair.token_type, 'bearer', 'the pair matches TokenPairSchema')
      t.type(pair.access_token, 'string')

      await page.locator('.auth-wrapper .authorize').first().click()
      const dialog = page.locator('.modal-ux')
      const access = dialog.locator('.auth-container').filter({ hasText: 'accessToken' })
      t.match(await access.textContent(), /http, Bearer/, 'the access scheme is HTTP bearer')
      t.ok(await dialog.locator('.auth-container').filter({ hasText: 'refreshToken' }).count() > 0, 'refresh tokens have their own scheme')
      await access.locator('input').fill(pair.access_token)
      await access.locator('button.authorize').click()
      await dialog.locator('button.btn-done').first().click()

      res = await tryItOut(page, profile)
      t.equal(res.status, 200, 'after Authorize, "Try it out" on GET /profile answers 200')
      t.same(JSON.parse(res.body), { message: 'You have access to this protected resource', user: 'test' })
    } catch (err) {
      const path = join(mkdtempSync(join(tmpdir(), 'authx-swagger-ui-')), 'failure.png')
      await page.screenshot({ path, fullPage: true }).catch(() => {})
      t.comment(`screenshot of the failing page: ${path}`)
      throw err
    }
  })
}
