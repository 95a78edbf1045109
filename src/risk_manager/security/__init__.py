"""Security pieces shared by the daemon and the admin console: the admin password and the admin token.

They live outside ``daemon/`` because the console must not depend on the daemon's internals, and
outside ``admin/`` because the daemon verifies the very same hash file and writes the token.
"""
