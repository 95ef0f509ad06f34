"""The Telegram bot (python-telegram-bot 22): `app` builds and runs it, `handlers` answers users, `admin` serves
staff commands and handoffs, `render` turns replies into messages and keyboards, `delivery` fetches updates
at least once.

May import the core, the log, `bot.service` and `bot.config`; never another channel or the staff side.
"""
