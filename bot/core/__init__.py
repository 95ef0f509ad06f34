"""The core that understands and answers: normalisation, pinyin, intents and content, the matcher, the engine,
menus, checks and evaluation.

Plain synchronous code, prepared once at load. It may import the standard library, its own modules,
`bot.errors` and its data libraries (yaml, rapidfuzz, rjieba, opencc, numpy); never the log, a channel,
the staff side, aiohttp, telegram or sqlite_utils.
"""
