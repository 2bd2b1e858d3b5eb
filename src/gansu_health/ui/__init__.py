"""Shared web UI pieces of the citizen app (``portal``) and the staff console (``console``).

Why server-rendered Jinja2 templates with HTMX rather than a single-page application:

* One language, one process, one test runner: pages are rendered by the FastAPI process that
  already holds the FHIR API, the sessions and the audit trail, and every page reads data through
  ``FhirApi.handle`` with the signed-in person's ``Principal`` - so the UI cannot show more than
  the access rules allow, and each look is audited exactly like an API call.
* Fast on low-end phones and poor networks (rural Gansu): the first page is plain HTML and CSS
  (well under 100 KB); there is no JavaScript bundle to download, parse and hydrate.
* Progressive enhancement: every form and link works without JavaScript (the strict CSP forbids
  inline scripts anyway); htmx 4 (37 KB, vendored) only swaps fragments where it helps - live
  hospital search, record tabs, "load more" - and ECharts is loaded on chart pages only.
* Accessibility is easier to get right in semantic HTML than in a component framework, and
  Playwright tests exercise the real HTML the server sends.
A SPA would need a second toolchain (Node build), an API/client duplication and client-side
authorisation; offline data capture - the one thing it does better - is not needed here.
"""
