"""The hotline console: a web app on the call store where QA reviews calls and admins change
dialplans safely, behind a login. `ivr console` runs it; `ivr serve` starts it on its own port.

Server-rendered (FastAPI + Jinja2) with a little local JavaScript; every asset is served from
`static/`, nothing from a CDN (hotlines run offline).
"""
