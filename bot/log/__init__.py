"""The enquiry log: the SQLite file and its migrations, the writer thread, its rows and the staff reports.

It may import the core (to normalise questions in reports), `bot.config` and `bot.errors`; never a channel
or the staff side.
"""
