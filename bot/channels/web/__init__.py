"""The web chat and its JSON API on aiohttp: `chat` (the routes and app factory), `http` (security headers,
one-sentence JSON errors and body checks, shared with the staff pages) and `static/` (the page itself).

May import the core, `bot.service` and `bot.config`; never another channel or the staff side.
"""
