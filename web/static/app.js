// Confer's page script, loaded as <script type="module" src="/assets/app.js">.
// No inline script anywhere: the Content-Security-Policy is `script-src 'self'`.
import { initAll } from '/assets/govuk-frontend.min.js'

// The GOV.UK page template does this with an inline script, which our CSP
// forbids. GOV.UK Frontend's components only initialise when it is present.
document.body.classList.add('govuk-frontend-supported')

initAll()
