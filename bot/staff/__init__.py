"""The staff side: the dashboard's routes (`app`), sign-in state (`auth`), pages (`views`) and charts (`charts`).

May import the core, the log, `bot.service` and the web channel's HTTP plumbing (`bot.channels.web.http`);
never the Telegram channel.
"""
