"""Local stand-ins for the network services the package talks to, for tests and the demo.

Nothing here is imported by the package's own code paths.
"""
