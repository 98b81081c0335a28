"""pppbridge's imperative shell: the only code that touches file descriptors, asyncio,
clocks, netlink and the environment. The protocol itself lives in ``netstack``."""

__version__ = "0.1.0"
