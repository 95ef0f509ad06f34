"""The `vocbot` command line: `main` (the group and the engine, serve, chat and ask commands) and `logs`
(the enquiry-log commands). Thin click wrappers over library calls; may import every other package.
"""
