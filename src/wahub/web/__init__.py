"""The inbox: a WhatsApp-Web-like page for the people who answer customers, served by ``wahub serve`` at ``/``.

Server-rendered (Jinja2) with a little client code: htmx (vendored, ``static/vendor/VENDORED.md``) swaps the
parts, and small ES modules (``static/js/``, no build step) keep the page live through ``/api/v1/stream``
and send through ``POST /api/v1/messages``, as any API client does. It never calls a provider: like the API
it reads the store and writes to the outbox (through the API).

    site.py        mount(app): the routes, the static files, the login redirect; serves_page(path)
    auth.py        who looks at a page (the API's session check; admins only for /admin), the forms' CSRF token,
                   safe ``next`` paths
    reading.py     what a page shows, read through the store with api/visibility applied
    listing.py     the list's view (filter, account, ERP record, search) carried by every link; search hits
    workflow.py    the conversation's workflow bar: assignee, state, linked records
    administration.py  what the admin pages show (users, keys, accounts, webhook deliveries, the statistics)
    chart.py       the dashboard's messages-per-day chart as geometry for an inline SVG (pure)
    views.py       rows, headers and bubbles as the templates show them (pure)
    templating.py  the Jinja2 environment (autoescape on) and the static files' digest
    routes/        login.py (/login, /logout), inbox.py (/, /c/{id}[?at=message], /e/{type}/{id}, partials, /list),
                   admin.py (/admin/…)
    templates/     base.html, login.html, inbox.html; partials/ (one file per swappable part); admin/ (its pages)
    static/        app.css, admin.css, flow.css (search, workflow), js/ (one ES module per concern), vendor/ (htmx)
"""

from wahub.web.site import mount, serves_page

__all__ = ["mount", "serves_page"]
