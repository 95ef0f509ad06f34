"""The channels at the edge: each turns a platform event into one call on the service or engine and the reply
into platform output.

Subpackages: `telegram`, `web`, `wechat`; modules `terminal` and `guards` (input limits every channel shares).
A channel may import the core's reply types, the service and the log's public writer; channels never import
each other.
"""
