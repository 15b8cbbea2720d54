"""Network policy: host and port matching, where secrets may be sent, the loopback receiver.

The lowest layer above ``pwb_oauth_ext.errors``: imports only the standard
library and, lazily, requests and urllib3 (for reading URLs exactly as they
do). Every other part of the package may import it.
"""
